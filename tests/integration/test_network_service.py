"""NetworkService on real netlink, iptables-nft and namespaces (no runtime needed).

Containers are stand-ins: a namespace made by the service with busybox processes spawned in it
(nsenter). Traffic goes only to loopback and to addresses on this test's own bridges
(10.213.x.0/24). Every test ends by asserting that no link, namespace or rule is left.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import shutil
import socket
import subprocess
import tempfile

import pytest

from shim.errors import Conflict, Forbidden, InvalidParameter, ShimError
from tests.integration.netsvc_helpers import build, container, in_ns, leftovers, spawn_in_ns
from tests.waiting import wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.fixture
async def env():
    root = tempfile.mkdtemp(prefix="shimnet-")
    tag = "sht" + secrets.token_hex(4)
    third = random.randint(100, 199)
    svc = build(root, tag, f"10.213.{third}.1/24")
    procs: list = []
    state = {"svc": svc, "tag": tag, "root": root, "third": third, "procs": procs}
    await svc.restore()
    try:
        yield state
    finally:
        for p in procs:
            p.kill()
            p.wait()
        svc = state["svc"]
        for cid in list(svc.state.cn):
            await svc.detach(cid, remove=True)
        for n in list(svc.networks()):
            if not n.predefined:
                await svc.remove(n.id)
        await svc.close()
        found = await leftovers(tag, os.path.join(root, "exec"))
        if not found:  # nothing mounted or linked is left under it: its files go too
            shutil.rmtree(root, ignore_errors=True)
        assert found == []


def _server(state, netns: str, port: int, text: str):
    p = spawn_in_ns(netns, "nc", "-ll", "-p", str(port), "-e", "echo", text)
    state["procs"].append(p)
    wait_for(lambda: _listens(p, netns, port), f"nc to listen on port {port} in {netns}")
    return p


def _listens(p: subprocess.Popen, netns: str, port: int) -> bool:
    """Whether `p`, once in `netns` (nsenter's setns, then exec), has a TCP socket listening on `port`
    there: /proc/PID/net/tcp* list the sockets of PID's network namespace."""
    assert p.poll() is None, f"the server {p.args} ended with {p.returncode}"
    pid = p.pid
    if os.stat(f"/proc/{pid}/ns/net").st_ino != os.stat(netns).st_ino:
        return False
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            rows = [line.split() for line in f.readlines()[1:]]
        if any(r[1].rsplit(":", 1)[1] == f"{port:04X}" and r[3] == "0A" for r in rows):  # 0A: LISTEN
            return True
    return False


async def _run(netns: str, *args: str):
    return await asyncio.to_thread(in_ns, netns, *args)


async def test_user_network_dns_ports_isolation(env):
    svc, third = env["svc"], env["third"]
    net, _ = await svc.create(name="appnet", ipam={"Config": [{"Subnet": f"10.213.{third + 50}.0/24"}]})
    a = container(
        "alpha",
        NetworkMode="appnet",
        networking_config={"EndpointsConfig": {"appnet": {"Aliases": ["web"]}}},
        PortBindings={"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]},
    )
    b = container("beta", NetworkMode="appnet")
    c = container("gamma")  # default bridge: another network
    att = await svc.attach(a)
    await svc.attach(b)
    await svc.attach(c)
    ip_a = svc.state.cn[a.id].endpoints[net.id].ip
    assert ip_a == f"10.213.{third + 50}.2"
    assert open(att.resolv_conf_path).read().startswith("nameserver 127.0.0.11")
    assert f"{ip_a}\t{a.config['Hostname']}" in open(att.hosts_path).read()
    _server(env, att.netns_path, 80, "hello")
    nb, nc_ = svc.state.cn[b.id].netns, svc.state.cn[c.id].netns
    # by name, alias and short ID through 127.0.0.11 (always named explicitly: never the host's resolver)
    for name in ("alpha", "web", a.id[:12]):
        r = await _run(nb, "nslookup", name, "127.0.0.11")
        assert ip_a in r.stdout, r
    r = await _run(nb, "nc", "-w", "3", ip_a, "80")
    assert r.stdout == "hello\n"
    # isolation: the default bridge can't reach appnet; the positive control above proves nc works
    r = await _run(nc_, "nc", "-w", "2", ip_a, "80")
    assert r.returncode != 0 and r.stdout == ""
    # the published port answers on 127.0.0.1 from the host
    port = svc.state.cn[a.id].ports[0].host_port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        assert s.recv(100) == b"hello\n"
    stats = await svc.stats(a.id)
    assert set(stats) == {"eth0"} and stats["eth0"]["rx_bytes"] > 0 and stats["eth0"]["tx_packets"] > 0
    # the embedded DNS does not answer across networks
    svc_c_names = svc.lookup_a(c.id, "alpha")
    assert svc_c_names is None
    with pytest.raises(Conflict, match="has active endpoints"):
        await svc.remove("appnet")
    await svc.detach(a.id)
    await svc.detach(a.id)  # idempotent
    assert svc.state.cn[a.id].ports == []


async def test_port_already_allocated_leaves_nothing(env):
    svc = env["svc"]
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    try:
        a = container("busy", PortBindings={"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]})
        with pytest.raises(ShimError, match=f"Bind for 127.0.0.1:{port} failed: port is already allocated"):
            await svc.attach(a)
        assert not svc.state.cn[a.id].live
        assert list(await svc._nl.list_netns()) == []
        assert [x for x in await svc._nl.our_links() if x[1] == "veth"] == []
        assert str(port) not in await svc._fw.dump()
    finally:
        holder.close()


async def test_connect_disconnect_running(env):
    svc, third = env["svc"], env["third"]
    _net, _ = await svc.create(name="extra", ipam={"Config": [{"Subnet": f"10.213.{third + 51}.0/24"}]})
    a = container("solo")
    att = await svc.attach(a)
    await svc.connect("extra", a, {"Aliases": ["x"]}, running=True)
    ifs = await svc._nl.netns_interfaces(att.netns_path)
    assert ifs["eth1"] == [f"10.213.{third + 51}.2/24"]
    with pytest.raises(Forbidden, match="already exists in network extra"):
        await svc.connect("extra", a, {}, running=True)
    await svc.disconnect("extra", a)
    assert "eth1" not in await svc._nl.netns_interfaces(att.netns_path)


async def test_bad_input(env):
    svc, third = env["svc"], env["third"]
    await svc.create(name="one", ipam={"Config": [{"Subnet": f"10.213.{third + 52}.0/24"}]})
    with pytest.raises(Conflict, match="network with name one already exists"):
        await svc.create(name="one")
    with pytest.raises(Forbidden, match="Pool overlaps"):
        await svc.create(name="two", ipam={"Config": [{"Subnet": f"10.213.{third + 52}.128/25"}]})
    with pytest.raises(InvalidParameter, match="no matching subnet for gateway"):
        await svc.create(name="three", ipam={"Config": [{"Subnet": "10.213.253.0/24", "Gateway": "10.213.254.1"}]})
    with pytest.raises(Forbidden, match="bridge is a pre-defined network and cannot be removed"):
        await svc.remove("bridge")
    assert [n.name for n in svc.networks() if not n.predefined] == ["one"]


async def test_reconcile_after_crash(env):
    """A daemon killed with endpoints live: a new one removes what no live container owns."""
    svc, root, tag = env["svc"], env["root"], env["tag"]
    a = container("crashy")
    att = await svc.attach(a)
    veth = next(ep.veth for ep in svc.state.cn[a.id].endpoints.values())
    svc._ports.close()
    await svc._dns.close()
    # the crash: nothing cleaned; the record says live. Then the container is gone for good.
    rec = svc._store.get("endpoints", a.id)
    rec["live"] = False
    svc._store.put("endpoints", a.id, rec)
    svc2 = build(root, tag, f"10.213.{env['third']}.1/24")
    env["svc"] = svc2
    await svc2.restore()
    assert not os.path.exists(att.netns_path)
    assert veth not in [x[0] for x in await svc2._nl.our_links()]


async def test_parallel_attaches_connects_and_detaches(env):
    """Attach wires outside the service's lock (issue 17): 24 starts at once on a user network and
    the default bridge, while other containers are connected, disconnected and released, still
    give every endpoint its own address, a live interface with it, and a name the embedded DNS
    answers; a network with endpoints being wired can't be removed."""
    svc, third = env["svc"], env["third"]
    net, _ = await svc.create(name="busy", ipam={"Config": [{"Subnet": f"10.213.{third + 53}.0/24"}]})
    spare, _ = await svc.create(name="spare", ipam={"Config": [{"Subnet": f"10.213.{third + 54}.0/24"}]})
    others = [container(f"other{i}", NetworkMode="busy") for i in range(4)]
    for o in others:
        await svc.attach(o)
    users = [container(f"user{i}", NetworkMode="busy") for i in range(16)]
    plain = [container(f"plain{i}") for i in range(8)]

    async def remove_busy():
        with pytest.raises(Conflict, match="has active endpoints"):
            await svc.remove("busy")

    await asyncio.gather(
        *(svc.attach(c) for c in users + plain),
        svc.connect("spare", others[0], {}, running=True),
        svc.disconnect("busy", others[1]),
        svc.detach(others[2].id),
        svc.detach(others[3].id, remove=True),
        remove_busy(),
    )
    cns = svc.state.cn
    on_busy = [cns[c.id].endpoints[net.id] for c in users] + [cns[others[0].id].endpoints[net.id]]
    on_bridge = [cns[c.id].endpoints[svc.default_bridge().id] for c in plain]
    for eps_ in (on_busy, on_bridge):
        ips = [ep.ip for ep in eps_]
        assert all(ips) and len(set(ips)) == len(ips), ips
        assert len({ep.mac for ep in eps_}) == len(ips) and len({ep.veth for ep in eps_}) == len(ips)
    assert cns[others[0].id].endpoints[spare.id].ip == f"10.213.{third + 54}.2"
    assert net.id not in cns[others[1].id].endpoints
    assert not cns[others[2].id].live and others[3].id not in cns
    for c in users + plain:
        cn = cns[c.id]
        ifs = await svc._nl.netns_interfaces(cn.netns)
        ep = cn.endpoints[cn.order[0]]
        assert ifs["eth0"] == [f"{ep.ip}/{ep.prefix}"], (c.name, ifs)
    # from one container on the network, every other is found by name and answers a ping
    me = cns[users[0].id].netns
    for c in [*users[1:], others[0]]:
        want = cns[c.id].endpoints[net.id].ip
        r = await _run(me, "nslookup", c.name, "127.0.0.11")
        assert want in r.stdout, (c.name, r)
        r = await _run(me, "ping", "-c", "1", "-W", "3", want)
        assert r.returncode == 0, (c.name, r)
