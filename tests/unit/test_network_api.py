"""The network endpoints and the container engine's use of networking, on in-memory adapters.

The NetworkService is real; netlink, firewall, DNS, port reservation and files are fakes that
record what they were asked. Real adapters are covered in tests/integration/test_network_*.py.
"""

from __future__ import annotations

import asyncio
import json
import types

import pytest

from shim.api.server import ENGINE, make_app
from shim.config import Settings
from shim.engine.containers import ContainerService
from shim.engine.daemon import Engine, HostFacts
from shim.engine.events import Events
from shim.engine.networks import ContainerNetworking, NetworkService
from shim.engine.store import Store
from shim.errors import SystemFailure
from tests.fakes import FakeImages, FakeRuntime


class FakeNetlink:
    def __init__(self) -> None:
        self.bridges: dict[str, tuple[str, int]] = {}
        self.netns: set[str] = set()
        self.veths: dict[str, dict] = {}
        self.sysctls: dict[str, str] = {}

    async def ensure_bridge(self, name, gateway, prefix, mtu=1500, owner=""):
        self.bridges[name] = (gateway, prefix)

    async def delete_link(self, name):
        self.bridges.pop(name, None)
        self.veths.pop(name, None)

    async def our_links(self):
        return [(b, "bridge", "") for b in self.bridges] + [(v, "veth", "") for v in self.veths]

    async def routed_subnets(self):
        return ["172.17.0.0/16", "192.0.2.0/24"]  # a real docker0 is there

    def netns_path(self, cid):
        return f"/fake/netns/{cid}"

    async def create_netns(self, cid):
        self.netns.add(cid)
        return self.netns_path(cid)

    async def delete_netns(self, path):
        self.netns.discard(path.rsplit("/", 1)[1])

    async def list_netns(self):
        return sorted(self.netns)

    async def add_endpoint(self, **kw):
        self.veths[kw["host_if"]] = kw

    async def remove_endpoint(self, host_if):
        self.veths.pop(host_if, None)

    async def sysctl(self, path, value):
        self.sysctls[path] = value

    async def link_exists(self, name):
        return name in self.bridges or name in self.veths

    async def enslave(self, ifname, bridge):
        self.veths[ifname]["bridge"] = bridge

    async def pinned(self, path):
        return path.rsplit("/", 1)[1] in self.netns

    async def pinned_paths(self, paths):
        return {p for p in paths if p.rsplit("/", 1)[1] in self.netns}

    async def pin_netns(self, path, pid, cid=""):
        if not pid:
            raise SystemFailure(f"no process {pid}")
        self.netns.add(path.rsplit("/", 1)[1])

    async def link_stats(self, ifname):
        return {"rx_bytes": 0, "tx_bytes": 0}

    def close(self):
        pass


class FakeFirewall:
    def __init__(self) -> None:
        self.state = None

    async def apply(self, state):
        self.state = state() if callable(state) else state

    async def remove_all(self):
        self.state = None


class FakeDns:
    def __init__(self) -> None:
        self.serving: dict[str, tuple] = {}

    async def serve(self, cid, netns, lookup_a, lookup_ptr, upstreams):
        self.serving[cid] = (lookup_a, lookup_ptr)

    async def stop(self, cid):
        self.serving.pop(cid, None)

    async def close(self):
        self.serving.clear()


class FakePorts:
    def __init__(self) -> None:
        self.held: set[tuple[str, str, int]] = set()
        self.next = 40000

    def reserve(self, proto, host_ip, port):
        ip = host_ip or "0.0.0.0"
        if port == 0:
            self.next += 1
            port = self.next
        if any(p == proto and n == port and (i == ip or "0.0.0.0" in (i, ip)) for p, i, n in self.held):
            raise SystemFailure(f"Bind for {ip}:{port} failed: port is already allocated")
        self.held.add((proto, ip, port))
        return port

    def release(self, proto, host_ip, port):
        self.held.discard((proto, host_ip or "0.0.0.0", port))

    def close(self):
        self.held.clear()


class FakeFiles:
    def __init__(self) -> None:
        self.files: dict[str, str] = {}

    def read_host_resolv_conf(self):
        return "nameserver 127.0.0.53\nnameserver 10.9.9.9\n"

    def read_host_file(self, path):
        return ""

    def write(self, path, content):
        self.files[path] = content

    def remove_tree(self, path):
        pass


@pytest.fixture
async def api(aiohttp_client, tmp_path):
    store, events = Store(tmp_path), Events()
    settings = Settings(data_root=str(tmp_path), bridge="shtest0", bip="")
    nl, fw, dns, ports, files = FakeNetlink(), FakeFirewall(), FakeDns(), FakePorts(), FakeFiles()
    nets = NetworkService(
        store=store,
        events=events,
        settings=settings,
        netlink=nl,
        firewall=fw,
        dns=dns,
        ports=ports,
        files=files,
        data_root=str(tmp_path),
    )
    glue = ContainerNetworking(nets)
    rt = FakeRuntime()
    containers = ContainerService(store=store, events=events, images=FakeImages(), runtime=rt, network=glue)
    glue.bind(containers.get)
    host = HostFacts("6.1", "Debian", "12", "amd64", 2, 1 << 30, "cgroupfs", "1", "h")
    engine = Engine(settings=settings, store=store, events=events, host=host, containers=containers, networks=nets)
    await engine.start()
    client = await aiohttp_client(make_app(engine))
    client.nets, client.nl, client.fw, client.dns, client.ports, client.files = nets, nl, fw, dns, ports, files
    client.rt, client.events = rt, events
    return client


async def _create(api, name, **body):
    body.setdefault("Image", "busybox")
    body.setdefault("Cmd", ["sleep", "300"])
    r = await api.post(f"/v1.41/containers/create?name={name}", json=body)
    assert r.status == 201, await r.text()
    return (await r.json())["Id"]


async def _start(api, ref):
    r = await api.post(f"/v1.41/containers/{ref}/start")
    assert r.status == 204, await r.text()


async def test_predefined_networks_and_pool(api):
    r = await api.get("/v1.41/networks")
    nets = await r.json()
    assert [n["Name"] for n in nets] == ["none", "host", "bridge"]
    bridge = nets[2]
    # 172.17.0.0/16 is routed on the host already (a docker0): the next pool subnet is taken
    assert bridge["IPAM"]["Config"] == [{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]
    assert bridge["Options"]["com.docker.network.bridge.name"] == "shtest0"
    assert api.nl.bridges["shtest0"] == ("172.18.0.1", 16)
    assert api.nl.sysctls["net/ipv4/ip_forward"] == "1"
    r = await api.delete("/v1.41/networks/bridge")
    assert r.status == 403
    assert (await r.json())["message"] == "bridge is a pre-defined network and cannot be removed"


async def test_create_inspect_list_remove(api):
    body = {
        "Name": "recnet",
        "CheckDuplicate": True,
        "Driver": "bridge",
        "IPAM": {"Driver": "default", "Options": {}, "Config": []},
        "Internal": False,
        "Attachable": False,
        "Ingress": False,
        "ConfigOnly": False,
        "ConfigFrom": None,
        "Options": {},
        "Labels": {"a": "b"},
    }
    r = await api.post("/v1.41/networks/create", json=body)
    assert r.status == 201
    created = await r.json()
    assert created["Warning"] == "" and len(created["Id"]) == 64
    r = await api.post("/v1.41/networks/create", json=body)
    assert r.status == 409 and (await r.json())["message"] == "network with name recnet already exists"
    net = await (await api.get("/v1.41/networks/recnet")).json()
    assert net["IPAM"]["Config"] == [{"Subnet": "172.19.0.0/16", "Gateway": "172.19.0.1"}]
    assert net["Labels"] == {"a": "b"} and net["Containers"] == {}
    assert (await api.get(f"/v1.41/networks/{created['Id'][:8]}")).status == 200
    q = json.dumps({"name": {"recnet": True}})
    assert [n["Name"] for n in await (await api.get("/v1.41/networks", params={"filters": q})).json()] == ["recnet"]
    r = await api.get("/v1.41/networks/nosuchnet")
    assert r.status == 404 and (await r.json())["message"] == "network nosuchnet not found"
    assert (await api.delete("/v1.41/networks/recnet")).status == 204
    assert f"br-{created['Id'][:12]}" not in api.nl.bridges
    kinds = [
        (e["Action"], e["Actor"]["Attributes"]["name"])
        for e in api.events.history(None, None)
        if e["Type"] == "network"
    ]
    assert kinds == [("create", "recnet"), ("destroy", "recnet")]


async def test_bad_subnets(api):
    ok = {"Name": "a", "IPAM": {"Config": [{"Subnet": "10.213.7.0/24", "Gateway": "10.213.7.254"}]}}
    assert (await api.post("/v1.41/networks/create", json=ok)).status == 201
    r = await api.post("/v1.41/networks/create", json={"Name": "b", "IPAM": {"Config": [{"Subnet": "10.213.7.0/25"}]}})
    assert r.status == 403
    assert (await r.json())["message"] == "invalid pool request: Pool overlaps with other one on this address space"
    r = await api.post(
        "/v1.41/networks/create",
        json={"Name": "c", "IPAM": {"Config": [{"Subnet": "10.213.8.0/24", "Gateway": "10.213.9.1"}]}},
    )
    assert r.status == 400 and (await r.json())["message"] == "no matching subnet for gateway 10.213.9.1"
    r = await api.post("/v1.41/networks/create", json={"Name": "d", "IPAM": {"Config": [{"Subnet": "bogus"}]}})
    assert r.status == 400
    net = await (await api.get("/v1.41/networks/a")).json()
    assert net["IPAM"]["Config"] == [{"Subnet": "10.213.7.0/24", "Gateway": "10.213.7.254"}]
    assert [n["Name"] for n in await (await api.get("/v1.41/networks")).json()][-1] == "a"


async def test_run_with_ports_inspect_and_stop(api):
    cid = await _create(
        api,
        "web",
        ExposedPorts={"80/tcp": {}, "443/tcp": {}},
        HostConfig={
            "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}]},
            "Dns": ["10.1.1.1"],
            "ExtraHosts": ["gw:host-gateway"],
        },
    )
    await _start(api, "web")
    body = await (await api.get("/v1.41/containers/web/json")).json()
    ns = body["NetworkSettings"]
    assert ns["IPAddress"] == "172.18.0.2" and ns["Gateway"] == "172.18.0.1" and ns["MacAddress"] == "02:42:ac:12:00:02"
    assert ns["Ports"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}], "443/tcp": None}
    assert ns["Networks"]["bridge"]["IPAddress"] == "172.18.0.2"
    req = api.rt.procs[cid].req
    assert req.netns_path == f"/fake/netns/{cid}"
    assert {m.destination for m in req.mounts} >= {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}
    files = {k.rsplit("/", 1)[1]: v for k, v in api.files.files.items() if cid in k}
    assert files["resolv.conf"] == "nameserver 10.1.1.1\n"
    assert "172.18.0.1\tgw\n" in files["hosts"] and files["hosts"].endswith(f"172.18.0.2\t{cid[:12]}\n")
    [rule] = api.fw.state.ports
    assert (rule.host_ip, rule.host_port, rule.container_ip, rule.container_port) == (
        "127.0.0.1",
        18080,
        "172.18.0.2",
        80,
    )
    # the same port for another container: dockerd's 500 and nothing left behind
    await _create(api, "web2", HostConfig={"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "18080"}]}})
    r = await api.post("/v1.41/containers/web2/start")
    assert r.status == 500
    msg = (await r.json())["message"]
    assert msg.startswith("driver failed programming external connectivity on endpoint web2 (")
    assert (
        msg.endswith("Bind for 127.0.0.1:18080 failed: port is already allocated") or "port is already allocated" in msg
    )
    assert len(api.nl.netns) == 1 and len(api.nl.veths) == 1
    api.rt.exit(cid, 0)
    for _ in range(50):
        if not api.nl.netns and not api.nl.veths and not api.fw.state.ports:
            break
        await __import__("asyncio").sleep(0.01)
    assert api.nl.netns == set() and api.nl.veths == {} and api.ports.held == set()
    assert api.fw.state.ports == []


async def test_user_network_dns_connect_disconnect(api):
    await api.post(
        "/v1.41/networks/create", json={"Name": "appnet", "IPAM": {"Config": [{"Subnet": "10.213.20.0/24"}]}}
    )
    a = await _create(
        api,
        "aa",
        HostConfig={"NetworkMode": "appnet"},
        NetworkingConfig={"EndpointsConfig": {"appnet": {"Aliases": ["web"]}}},
    )
    b = await _create(api, "bb", HostConfig={"NetworkMode": "appnet"})
    # compose: disconnect + connect on a created container, with new aliases
    r = await api.post("/v1.41/networks/appnet/disconnect", json={"Container": "aa", "Force": False})
    assert r.status == 200
    r = await api.post(
        "/v1.41/networks/appnet/connect",
        json={"Container": "aa", "EndpointConfig": {"Aliases": [a[:12], "web", "svc"]}},
    )
    assert r.status == 200
    r = await api.post("/v1.41/networks/appnet/connect", json={"Container": "aa", "EndpointConfig": {}})
    assert r.status == 403
    assert (await r.json())["message"] == "endpoint with name aa already exists in network appnet"
    await _start(api, "aa")
    await _start(api, "bb")
    files = {k.rsplit("/", 1)[1]: v for k, v in api.files.files.items() if a in k}
    assert files["resolv.conf"] == "nameserver 127.0.0.11\noptions ndots:0\n"
    lookup_a, lookup_ptr = api.dns.serving[b]
    assert lookup_a("svc") == ["10.213.20.2"] and lookup_a("aa") == ["10.213.20.2"]
    assert lookup_a(a[:12]) == ["10.213.20.2"] and lookup_a("aa.appnet") == ["10.213.20.2"]
    assert lookup_a("example.com") is None
    assert lookup_ptr("10.213.20.3") == "bb.appnet" and lookup_ptr("10.213.20.99") == ""
    net = await (await api.get("/v1.41/networks/appnet")).json()
    assert net["Containers"][a]["IPv4Address"] == "10.213.20.2/24" and net["Containers"][a]["Name"] == "aa"
    r = await api.delete("/v1.41/networks/appnet")
    assert r.status == 409 and "has active endpoints" in (await r.json())["message"]
    # connect a running container to the default bridge, then disconnect it again
    r = await api.post("/v1.41/networks/bridge/connect", json={"Container": "bb"})
    assert r.status == 200
    body = await (await api.get("/v1.41/containers/bb/json")).json()
    assert set(body["NetworkSettings"]["Networks"]) == {"appnet", "bridge"}
    assert body["NetworkSettings"]["IPAddress"] == "172.18.0.2"
    assert [v["ifname"] for v in api.nl.veths.values() if v["netns"].endswith(b)] == ["eth0", "eth1"]
    r = await api.post("/v1.41/networks/bridge/disconnect", json={"Container": "bb"})
    assert r.status == 200
    r = await api.post("/v1.41/networks/bridge/disconnect", json={"Container": "bb"})
    assert r.status == 403
    acts = [
        (e["Action"], e["Actor"]["Attributes"].get("container"))
        for e in api.events.history(None, None)
        if e["Type"] == "network" and e["Action"] in ("connect", "disconnect")
    ]
    assert acts == [("connect", a), ("connect", b), ("connect", b), ("disconnect", b)]
    r = await api.post("/v1.41/networks/prune")
    assert (await r.json()) == {"NetworksDeleted": None}


async def test_modes_host_none_container(api):
    h = await _create(api, "hh", HostConfig={"NetworkMode": "host"})
    n = await _create(api, "nn", HostConfig={"NetworkMode": "none"})
    await _start(api, "hh")
    await _start(api, "nn")
    assert api.rt.procs[h].req.netns_path == "host"
    assert api.rt.procs[n].req.netns_path == f"/fake/netns/{n}" and not api.nl.veths
    body = await (await api.get("/v1.41/containers/nn/json")).json()
    assert list(body["NetworkSettings"]["Networks"]) == ["none"]
    assert body["NetworkSettings"]["Networks"]["none"]["NetworkID"]
    j = await _create(api, "jj", HostConfig={"NetworkMode": "container:nn"})
    await _start(api, "jj")
    assert api.rt.procs[j].req.netns_path == f"/fake/netns/{n}"
    r = await api.post("/v1.41/networks/bridge/connect", json={"Container": "hh"})
    assert r.status == 403
    assert (await r.json())["message"] == (
        "container cannot be disconnected from host network or connected to host network"
    )


async def test_links(api):
    db = await _create(api, "db", ExposedPorts={"5432/tcp": {}}, Env=["PASS=x"])
    await _start(api, "db")
    web = await _create(api, "web", HostConfig={"Links": ["db:data"]})
    await _start(api, "web")
    c = api.server.app[ENGINE].containers.get("web")
    env = api.nets.files.link_env(c, api.nets.state.cn[web])  # Attachment.env: the engine adds it to the process env
    assert "DATA_PORT=tcp://172.18.0.2:5432" in env and "DATA_NAME=/web/data" in env and "DATA_ENV_PASS=x" in env
    hosts = next(v for k, v in api.files.files.items() if web in k and k.endswith("hosts"))
    assert f"172.18.0.2\tdata {db[:12]} db\n" in hosts


async def test_restore_reapplies_and_reconciles(api, tmp_path):
    cid = await _create(api, "keep", HostConfig={"PortBindings": {"80/tcp": [{"HostPort": "18081"}]}})
    await _start(api, "keep")
    api.nl.netns.add("f" * 64)  # a namespace of a container that no longer exists
    api.nl.veths["vethdead000"] = {}
    nets2 = NetworkService(
        store=api.nets._store,
        events=Events(),
        settings=api.nets._settings,
        netlink=api.nl,
        firewall=FakeFirewall(),
        dns=FakeDns(),
        ports=FakePorts(),
        files=api.files,
        data_root=str(tmp_path),
    )
    await nets2.restore()
    assert api.nl.netns == {cid} and "vethdead000" not in api.nl.veths
    assert [p.host_port for p in nets2._fw.state.ports] == [18081]
    assert ("tcp", "0.0.0.0", 18081) in nets2._ports.held


async def test_bad_port_spec_refused_at_create(api):
    # dockerd's verifyContainerSettings: refused at create, and no container is made.
    r = await api.post(
        "/v1.41/containers/create?name=bad",
        json={"Image": "busybox", "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "99999"}]}}},
    )
    assert r.status == 400 and (await r.json())["message"] == 'invalid port specification: "99999"'
    assert (await api.get("/v1.41/containers/bad/json")).status == 404
    assert api.nl.netns == set()


async def test_unknown_network_refused_at_create(api):
    r = await api.post(
        "/v1.41/containers/create?name=lost", json={"Image": "busybox", "HostConfig": {"NetworkMode": "nosuchnet"}}
    )
    assert r.status == 404 and "nosuchnet" in (await r.json())["message"]
    assert (await api.get("/v1.41/containers/lost/json")).status == 404


_ = types


async def test_embedded_dns_upstreams_and_link_aliases(api):
    await api.post("/v1.41/networks/create", json={"Name": "proj_default"})
    w = await _create(api, "proj_worker_1", HostConfig={"NetworkMode": "proj_default"})
    await _start(api, "proj_worker_1")
    c = await _create(
        api,
        "proj_web_1",
        HostConfig={"NetworkMode": "proj_default", "Dns": ["10.7.7.7"], "Links": ["proj_worker_1:worker"]},
    )
    await _start(api, "proj_web_1")
    assert api.nets.records.upstreams(c) == ["10.7.7.7"]
    assert api.nets.records.upstreams(w) == ["10.9.9.9"]  # the host's, loopback ones left out
    lookup_a, _ = api.dns.serving[c]
    ip = api.nets.state.cn[w].endpoints[api.nets.get("proj_default").id].ip
    assert lookup_a("worker") == [ip] and lookup_a("proj_worker_1") == [ip]
    assert api.dns.serving[w][0]("worker") is None  # link aliases belong to the linking container


async def test_ip_range_allocation(api):
    r = await api.post(
        "/v1.41/networks/create",
        json={"Name": "rng", "IPAM": {"Config": [{"Subnet": "10.213.30.0/24", "IPRange": "10.213.30.128/25"}]}},
    )
    assert r.status == 201
    await _create(api, "inrange", HostConfig={"NetworkMode": "rng"})
    await _start(api, "inrange")
    body = await (await api.get("/v1.41/containers/inrange/json")).json()
    assert body["NetworkSettings"]["Networks"]["rng"]["IPAddress"] == "10.213.30.128"
    net = await (await api.get("/v1.41/networks/rng")).json()
    # as given: no Gateway unless one was asked for (dockerd 20.10, compat/test_fields.py)
    assert net["IPAM"]["Config"] == [{"Subnet": "10.213.30.0/24", "IPRange": "10.213.30.128/25"}]


async def test_network_settings_rendered_at_the_asked_version(api):
    # The engine gives facts; each API version sees its own shape (DNSNames from v1.44, the short
    # ID and hostname in Aliases only before v1.45), in inspect and in the list (whose endpoints
    # carry no configuration: DNSNames null from v1.44, as moby's container view).
    await api.post("/v1.41/networks/create", json={"Name": "vnet"})
    cid = await _create(
        api,
        "vv",
        HostConfig={"NetworkMode": "vnet"},
        NetworkingConfig={"EndpointsConfig": {"vnet": {"Aliases": ["svc"]}}},
    )
    await _start(api, "vv")
    eps = {}
    for v in ("1.41", "1.44", "1.50"):
        body = await (await api.get(f"/v{v}/containers/vv/json")).json()
        eps[v] = body["NetworkSettings"]["Networks"]["vnet"]
    assert "DNSNames" not in eps["1.41"]
    assert eps["1.44"]["DNSNames"] == eps["1.50"]["DNSNames"] == ["vv", cid[:12], "svc"]
    assert eps["1.41"]["Aliases"] == eps["1.44"]["Aliases"] == ["svc", cid[:12]]
    assert eps["1.50"]["Aliases"] == ["svc"]
    old = await (await api.get("/v1.41/containers/json")).json()
    new = await (await api.get("/v1.50/containers/json")).json()
    assert "DNSNames" not in old[0]["NetworkSettings"]["Networks"]["vnet"]
    assert new[0]["NetworkSettings"]["Networks"]["vnet"]["DNSNames"] is None


async def _early_attach_with_gated_wiring(api, name):
    """A created container's start-time attach (early), its veth's creation held until `gate` opens;
    `order` records when the veth is made and when the namespace is removed (a detach's unplug)."""
    await _create(api, name)
    c = api.server.app[ENGINE].containers.get(name)
    gate, order = asyncio.Event(), []
    add, delete_netns = api.nl.add_endpoint, api.nl.delete_netns

    async def gated_add(**kw):
        await gate.wait()
        order.append("veth")
        await add(**kw)

    async def recorded_delete(path):
        order.append("netns removed")
        await delete_netns(path)

    api.nl.add_endpoint, api.nl.delete_netns = gated_add, recorded_delete
    att = await api.nets.attach(c, early=True)
    return c, att, gate, order


def _connects(api, cid):
    return [
        e
        for e in api.events.history(None, None)
        if e["Type"] == "network" and e["Action"] == "connect" and e["Actor"]["Attributes"].get("container") == cid
    ]


async def test_an_early_attachs_wiring_holds_the_containers_lock_until_done(api):
    # attach(early=True) is back before the veths exist; its wiring task keeps the container's lock
    # (a detach meanwhile waits for it, never unplugs a half-wired container) and publishes `connect`.
    c, att, gate, order = await _early_attach_with_gated_wiring(api, "early")
    assert att.wired is not None and not att.wired.done() and att.netns_path
    detach = asyncio.ensure_future(api.nets.detach(c.id))
    for _ in range(50):  # every step a detach not kept waiting would take (fakes: no threads)
        await asyncio.sleep(0)
    assert order == [] and not detach.done() and _connects(api, c.id) == []
    gate.set()
    await att.wired
    await detach
    assert order == ["veth", "netns removed"]
    assert len(_connects(api, c.id)) == 1


async def test_a_failed_early_wiring_lets_go_of_the_containers_lock(api):
    c, att, gate, order = await _early_attach_with_gated_wiring(api, "early-fails")

    async def failing_add(**kw):
        await gate.wait()
        raise SystemFailure("veth refused")

    api.nl.add_endpoint = failing_add
    gate.set()
    with pytest.raises(SystemFailure, match="veth refused"):
        await att.wired
    await api.nets.detach(c.id)  # the start's rollback: not kept waiting by the failed task
    assert order == ["netns removed"] and _connects(api, c.id) == []
