"""A container's NetworkSettings rendered by translate at the client's API version, from the facts
(EndpointView) the network service gives: DNSNames from v1.44 (translate/networks.py's endpoint
table); the short ID and hostname in Aliases before v1.45 and the list's configuration-less endpoints
(translate/containers.py's inspect and list tables)."""

from shim.engine.model import Container
from shim.engine.netmodel import ContainerNet, Endpoint, EndpointView, Network, PortMapping
from shim.translate import containers as trc
from shim.translate import networks as tr
from shim.translate.versions import Version

V141, V144, V150 = Version(1, 41), Version(1, 44), Version(1, 50)
CID = "c" * 64


def _user_net() -> Network:
    return Network(id="n" * 64, name="appnet", driver="bridge", created=1, subnet="10.5.0.0/24", gateway="10.5.0.1")


def _bridge() -> Network:
    return Network(
        id="b" * 64,
        name="bridge",
        driver="bridge",
        created=1,
        subnet="172.18.0.0/16",
        gateway="172.18.0.1",
        predefined=True,
    )


def _ep(net: Network, ip: str, aliases: list[str]) -> Endpoint:
    return Endpoint(
        network_id=net.id,
        endpoint_id="e" * 64,
        ip=ip,
        prefix=24,
        gateway=net.gateway,
        mac="02:42:0a:05:00:02",
        aliases=aliases,
    )


def _view(mode: str, *nets: tuple[Network, Endpoint], live: bool = True) -> EndpointView:
    cn = ContainerNet(
        cid=CID,
        name="web",
        mode=mode,
        live=live,
        netns="/run/x" if live else "",
        order=[n.id for n, _ in nets],
        endpoints={n.id: ep for n, ep in nets},
        ports=[PortMapping("tcp", 80, "", 18080, nets[0][0].id)] if live and nets else [],
    )
    return EndpointView(
        net=cn,
        networks={n.id: n for n, _ in nets},
        mode=mode,
        exposed=["80/tcp"],
        port_bindings={"80/tcp": [{"HostIp": "", "HostPort": "18080"}]},
    )


def _container(mode: str = "default") -> Container:
    return Container(
        id=CID,
        name="web",
        created=1,
        path="sh",
        args=[],
        config={"Image": "busybox"},
        host_config={"NetworkMode": mode},
        networking_config={},
        image_id="sha256:" + "i" * 64,
    )


def test_user_network_endpoint_per_version():
    net = _user_net()
    view = _view(net.id, (net, _ep(net, "10.5.0.2", ["db"])))
    old = tr.network_settings(view, V141)["Networks"]["appnet"]
    mid = tr.network_settings(view, V144)["Networks"]["appnet"]
    new = tr.network_settings(view, V150)["Networks"]["appnet"]
    # v1.44 added DNSNames: name, short ID, aliases
    assert "DNSNames" not in old
    assert mid["DNSNames"] == new["DNSNames"] == ["web", CID[:12], "db"]
    # the endpoint's Aliases are what was asked; inspect's table adds the short ID below v1.45
    assert old["Aliases"] == mid["Aliases"] == new["Aliases"] == ["db"]
    assert old["IPAddress"] == mid["IPAddress"] == new["IPAddress"] == "10.5.0.2"


def test_default_bridge_endpoint_per_version():
    br = _bridge()
    view = _view("bridge", (br, _ep(br, "172.18.0.2", [])))
    for v in (V141, V144, V150):
        ns = tr.network_settings(view, v)
        ep = ns["Networks"]["bridge"]
        assert ep["Aliases"] is None and ns["IPAddress"] == "172.18.0.2" and ns["Gateway"] == "172.18.0.1"
        # the default bridge has no DNS names: null from v1.44, absent before
        assert ("DNSNames" in ep) == (v >= V144) and ep.get("DNSNames") is None
        assert ns["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "18080"}]}


def test_host_mode_and_no_facts():
    host = Network(id="h" * 64, name="host", driver="host", created=1, predefined=True)
    view = EndpointView(
        net=ContainerNet(cid=CID, name="web", mode="host"),
        networks={host.id: host},
        mode="host",
        exposed=[],
        port_bindings={},
    )
    for v in (V141, V150):
        assert tr.network_settings(view, v)["Networks"] == {"host": tr.empty_endpoint(host.id)}
    # no networking facts (a container service without networking): dockerd's empty settings
    ns = tr.network_settings(None, V150, "default")
    assert ns["Networks"] == {"bridge": tr.empty_endpoint()} and ns["Ports"] == {} and ns["SandboxKey"] == ""
    assert tr.default_networks("container:x") == {}


def test_inspect_and_list_render_network_facts_at_the_asked_version():
    net = _user_net()
    c = _container(net.id)
    extra = {"network_settings": _view(net.id, (net, _ep(net, "10.5.0.2", ["db"])))}
    eps = {v: trc.inspect_out(c, v, extra)["NetworkSettings"]["Networks"]["appnet"] for v in (V141, V144, V150)}
    assert "DNSNames" not in eps[V141]
    assert eps[V144]["DNSNames"] == eps[V150]["DNSNames"] == ["web", CID[:12], "db"]
    assert eps[V141]["Aliases"] == eps[V144]["Aliases"] == ["db", CID[:12]] and eps[V150]["Aliases"] == ["db"]
    old, new = trc.list_item_out(c, V141, extra), trc.list_item_out(c, V150, extra)
    # the list's endpoints carry no configuration: DNSNames absent before v1.44, null after
    assert "DNSNames" not in old["NetworkSettings"]["Networks"]["appnet"]
    assert new["NetworkSettings"]["Networks"]["appnet"]["DNSNames"] is None
    assert new["NetworkSettings"]["Networks"]["appnet"]["IPAddress"] == "10.5.0.2"
    assert old["Ports"] == new["Ports"] == [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 18080, "Type": "tcp"}]
    # without facts, what dockerd shows for the mode before networking fills it in
    assert trc.list_item_out(_container(), V141, {})["NetworkSettings"]["Networks"] == {"bridge": tr.empty_endpoint()}
