"""shim/runtime/rtnl.py against the kernel: each call in a private network namespace (unshare -n),
read back with iproute2's `ip -j` (what dockerd's users inspect a container's network with)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"), reason="needs root, unshare and ip"
)

SCRIPT = textwrap.dedent(
    """
    import errno, json, os, socket, subprocess
    from shim.runtime.rtnl import IPRoute, NetlinkError

    def ip_j(*args):
        return json.loads(subprocess.run(["ip", "-j", "-d", *args], capture_output=True, text=True, check=True).stdout)

    def key(row):
        return [str(x) for x in row]

    out = {}
    with IPRoute() as ip:
        ip.link("set", index=socket.if_nametoindex("lo"), state="up")
        ip.link("add", ifname="br9", kind="bridge")
        try:
            ip.link("add", ifname="br9", kind="bridge")
        except NetlinkError as e:
            out["dup"] = [e.code, str(e)]
        br = socket.if_nametoindex("br9")
        out["alias_before"] = [link.get_attr("IFLA_IFALIAS") for link in ip.get_links(br)]
        ip.link("set", index=br, mtu=1400, ifalias="shim:t:br9")
        ip.addr("add", index=br, address="10.9.0.1", prefixlen=24)
        ip.link("set", index=br, state="up")
        fd = os.open("/proc/self/ns/net", os.O_RDONLY)
        peer_spec = {"ifname": "tmp1", "net_ns_fd": fd, "mtu": 1400}
        ip.link("add", ifname="veth1", kind="veth", mtu=1400, master=br, peer=peer_spec)
        ip.link("set", index=socket.if_nametoindex("veth1"), ifalias="shim:t:c1", state="up", hairpin=True)
        ip.link("add", ifname="veth2", kind="veth", master=br, peer={"ifname": "tmp2"})
        ip.link("set", index=socket.if_nametoindex("veth2"), hairpin=True)
        ip.link("set", index=socket.if_nametoindex("veth2"), hairpin=False)
        peer = socket.if_nametoindex("tmp1")
        ip.link("set", index=peer, ifname="eth0", address="02:42:0a:09:00:02")
        ip.addr("add", index=peer, address="10.9.0.2", prefixlen=24)
        ip.link("set", index=peer, state="up")
        ip.route("add", dst="0.0.0.0/0", gateway="10.9.0.1", oif=peer)
        out["links"] = sorted([
            [link.get_attr("IFLA_IFNAME"), link.get_attr("IFLA_IFALIAS"),
             link.get_attr("IFLA_LINKINFO") and link.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_KIND")]
            for link in ip.get_links()
        ], key=key)
        addrs = ip.get_addr(index=br, family=socket.AF_INET)
        out["bridge_addrs"] = [[a.get_attr("IFA_ADDRESS"), a["prefixlen"]] for a in addrs]
        out["routes"] = sorted([
            [r.get_attr("RTA_DST"), r["dst_len"], r.get_attr("RTA_GATEWAY")]
            for r in ip.get_routes(family=socket.AF_INET)
            if r.get_attr("RTA_DST") is None or r["dst_len"] == 24
        ], key=key)
        out["ip_link"] = ip_j("link", "show")
        out["ip_addr"] = ip_j("-4", "addr", "show")
        out["ip_route"] = ip_j("route", "show")
        ip.link("del", ifname="veth1")
        ip.link("del", ifname="veth2")
        try:
            ip.link("del", ifname="nope0")
        except NetlinkError as e:
            out["del_missing"] = e.code
        out["after_del"] = sorted(link.get_attr("IFLA_IFNAME") for link in ip.get_links())
    print(json.dumps(out))
    """
)


def test_rtnl_links_addresses_routes_as_ip_sees_them() -> None:
    r = subprocess.run(["unshare", "-n", sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["dup"] == [17, "(17, 'File exists')"]
    assert out["alias_before"] == [None]
    assert out["links"] == [
        ["br9", "shim:t:br9", "bridge"],
        ["eth0", None, "veth"],
        ["lo", None, None],
        ["tmp2", None, "veth"],
        ["veth1", "shim:t:c1", "veth"],
        ["veth2", None, "veth"],
    ]
    assert out["bridge_addrs"] == [["10.9.0.1", 24]]
    assert out["routes"] == [["10.9.0.0", 24, None], ["10.9.0.0", 24, None], [None, 0, "10.9.0.1"]]
    links = {link["ifname"]: link for link in out["ip_link"]}
    assert links["br9"]["mtu"] == 1400 and links["br9"]["ifalias"] == "shim:t:br9"
    assert "UP" in links["br9"]["flags"]
    assert links["veth1"]["master"] == "br9" and links["veth1"]["mtu"] == 1400 and "UP" in links["veth1"]["flags"]
    # hairpin set in the alias's message (a bridge port's slave data), and cleared again
    assert links["veth1"]["linkinfo"]["info_slave_data"]["hairpin"] is True
    assert links["veth2"]["linkinfo"]["info_slave_data"]["hairpin"] is False
    assert links["eth0"]["address"] == "02:42:0a:09:00:02" and links["eth0"]["mtu"] == 1400
    assert links["eth0"]["linkinfo"]["info_kind"] == "veth" and links["eth0"]["link"] == "veth1"
    addrs = {a["ifname"]: [(i["local"], i["prefixlen"]) for i in a["addr_info"]] for a in out["ip_addr"]}
    assert addrs["eth0"] == [("10.9.0.2", 24)] and addrs["br9"] == [("10.9.0.1", 24)]
    default = next(r for r in out["ip_route"] if r["dst"] == "default")
    assert default["gateway"] == "10.9.0.1" and default["dev"] == "eth0"
    assert out["del_missing"] == 19
    assert out["after_del"] == ["br9", "lo"]
