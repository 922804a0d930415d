"""Pure networking logic: port specs, DNS packets, firewall rendering, presenters, filters."""

import struct

import pytest

from shim.engine.netmodel import ContainerNet, Endpoint, EndpointView, Network, PortMapping
from shim.engine.netports import BridgeRules, FirewallState, PortRule
from shim.engine.networks import default_pools, parse_host_port, parse_port_key, validate_port_bindings
from shim.errors import InvalidParameter
from shim.runtime import dns
from shim.runtime.iptables import render
from shim.translate import networks as tr
from shim.translate.versions import Version


def test_port_specs():
    assert parse_port_key("80/tcp") == (80, 80, "tcp")
    assert parse_port_key("53/udp") == (53, 53, "udp")
    assert parse_port_key("8000-8002") == (8000, 8002, "tcp")
    assert parse_host_port("") == (0, 0)
    with pytest.raises(InvalidParameter, match='invalid port specification: "99999"'):
        validate_port_bindings({"PortBindings": {"80/tcp": [{"HostPort": "99999"}]}})
    with pytest.raises(InvalidParameter, match='invalid port specification: "0"'):
        parse_port_key("0/tcp")


def test_default_pools_start_with_docker0s():
    pools = default_pools()
    assert str(pools[0]) == "172.17.0.0/16" and str(pools[15]) == "192.168.0.0/20"


def _query(name: str, qtype: int = 1) -> bytes:
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + q + struct.pack("!HH", qtype, 1)


def test_dns_answers_ours_and_forwards_the_rest():
    ours = {"web": ["10.0.0.2"], "gone": []}
    resp = dns.answer(_query("web"), ours.get, lambda ip: None)
    qid, flags, _qd, an = struct.unpack("!HHHH", resp[:8])
    assert (qid, flags & 0x8000, flags & 0xF, an) == (0x1234, 0x8000, 0, 1)
    assert resp.endswith(bytes([10, 0, 0, 2]))
    assert dns.answer(_query("example.com"), ours.get, lambda ip: None) is None
    aaaa = dns.answer(_query("web", 28), ours.get, lambda ip: None)
    assert struct.unpack("!H", aaaa[6:8])[0] == 0 and struct.unpack("!H", aaaa[2:4])[0] & 0xF == 0
    ptr = dns.answer(_query("2.0.0.10.in-addr.arpa", 12), ours.get, lambda ip: "web.appnet")
    assert b"\x03web\x06appnet\x00" in ptr
    assert dns.parse_question(b"\x00" * 5) is None


def test_firewall_render():
    text = render(
        "t0",
        FirewallState(
            [BridgeRules("t0", "10.1.0.0/24"), BridgeRules("br-a", "10.2.0.0/24", internal=True)],
            [PortRule("tcp", "0.0.0.0", 8080, "10.1.0.2", 80, "t0")],
        ),
    )
    assert "-A SHIM-t0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.1.0.2:80" in text
    assert "-A SHIM-t0-POST -s 10.1.0.0/24 ! -o t0 -j MASQUERADE" in text
    assert "-s 10.2.0.0/24" not in text  # Internal: no masquerading, no way out
    assert "-A SHIM-t0-FWD -i br-a ! -o br-a -j DROP" in text
    assert "-A SHIM-t0-FWD -i t0 -o br-a -j DROP" in text and "-A SHIM-t0-FWD -i br-a -o t0 -j DROP" in text


def _net(**kw):
    base = {
        "id": "n" * 64,
        "name": "appnet",
        "driver": "bridge",
        "created": 1_795_886_399_477_392_044,
        "subnet": "192.168.224.0/20",
        "gateway": "192.168.224.1",
        "ipam_config": [{"Subnet": "192.168.224.0/20", "Gateway": "192.168.224.1"}],
        "ipam_options": {},
    }
    base.update(kw)
    return Network(**base)


def test_network_object_shape():
    out = tr.network_out(_net())
    assert list(out) == [
        "Name",
        "Id",
        "Created",
        "Scope",
        "Driver",
        "EnableIPv6",
        "IPAM",
        "Internal",
        "Attachable",
        "Ingress",
        "ConfigFrom",
        "ConfigOnly",
        "Containers",
        "Options",
        "Labels",
    ]
    assert out["Created"] == "2026-11-28T17:19:59.477392044Z"
    assert out["IPAM"] == {
        "Driver": "default",
        "Options": {},
        "Config": [{"Subnet": "192.168.224.0/20", "Gateway": "192.168.224.1"}],
    }


def test_network_settings_and_ports():
    net = _net()
    cn = ContainerNet(
        cid="c" * 64,
        name="web",
        mode=net.id,
        live=True,
        netns="/run/x",
        order=[net.id],
        endpoints={
            net.id: Endpoint(
                network_id=net.id,
                endpoint_id="e" * 64,
                ip="192.168.224.2",
                prefix=20,
                gateway="192.168.224.1",
                mac="02:42:c0:a8:e0:02",
                aliases=["web"],
            )
        },
        ports=[PortMapping("tcp", 80, "127.0.0.1", 18080, net.id)],
    )
    view = EndpointView(
        net=cn,
        networks={net.id: net},
        mode=net.id,
        exposed=["80/tcp", "443/tcp"],
        port_bindings={"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}]},
    )
    ns = tr.network_settings(view, Version(1, 41))
    assert ns["Ports"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}], "443/tcp": None}
    ep = ns["Networks"]["appnet"]
    # the short ID (and hostname) below 1.45 are added by the container inspect's version table
    assert ep["IPAddress"] == "192.168.224.2" and ep["Aliases"] == ["web"]
    assert "DNSNames" not in ep and ns["IPAddress"] == ""  # top-level fields are the default bridge's
    assert tr.network_settings(view, Version(1, 44))["Networks"]["appnet"]["DNSNames"] == ["web", "c" * 12, "web"]
    cn.live = False
    assert tr.network_settings(view, Version(1, 41))["Ports"] == {}


def test_list_filters():
    keep = tr.list_filter({"name": ["app"], "type": ["custom"]}, lambda n: False)
    assert keep(_net()) and not keep(_net(name="other")) and not keep(_net(predefined=True))
    with pytest.raises(InvalidParameter):
        tr.list_filter({"bogus": ["x"]}, lambda n: False)
    assert tr.list_filter({"dangling": ["true"]}, lambda n: False)(_net())
    assert tr.prune_filter({"label": ["a=b"]}, 0)(_net(labels={"a": "b"}))


def test_container_net_to_dict_is_asdict():
    """The hand-rolled ContainerNet.to_dict gives dataclasses.asdict's result, key order included,
    for a record with two endpoints (every field set), ports, files and DNS; from_dict reads it back."""
    import dataclasses
    import json

    eps = {
        "n1": Endpoint(
            "n1",
            "e1",
            "10.0.0.2",
            24,
            "10.0.0.1",
            "02:42:0a:00:00:02",
            "",
            ["web", "w"],
            {"IPv4Address": "10.0.0.2"},
            ["db:db"],
            {"k": "v"},
            "veth1",
            "eth0",
        ),
        "n2": Endpoint("n2"),
    }
    cn = ContainerNet(
        "c" * 64,
        "/web",
        "n1",
        eps,
        ["n1", "n2"],
        True,
        "/run/netns/x",
        True,
        "s" * 64,
        [PortMapping("tcp", 80, "0.0.0.0", 8080, "n1"), PortMapping("udp", 53, "::", 5353, "n2")],
        "web",
        ["1.1.1.1"],
        {"hosts": "/h", "hostname": "/hn", "resolv_conf": "/r"},
    )
    want = dataclasses.asdict(cn)
    got = cn.to_dict()
    assert got == want and json.dumps(got) == json.dumps(want)
    assert ContainerNet.from_dict(json.loads(json.dumps(got))) == cn
    empty = ContainerNet("d" * 64, "/e", "none")
    assert json.dumps(empty.to_dict()) == json.dumps(dataclasses.asdict(empty))
