"""Networks: user-defined bridges, name resolution, isolation, published ports, links, DNS files.

Traffic goes only to loopback and to containers on the engine's own bridges; busybox's wget
crashes (static NSS), so fetches use nc and names are resolved with nslookup.
"""

import json
import random
import socket

import pytest

from compat.lib import V

pytestmark = pytest.mark.feature("containers", "networks")


def subnet():
    """A /24 unlikely to collide with anything routed on the host."""
    return f"10.{random.randint(200, 250)}.{random.randint(0, 255)}.0/24"


@pytest.fixture(scope="module")
def appnet(eng):
    """A user network with two containers: `srv` (alias web, httpd on 80) and `cli` (sleep)."""
    net = eng.shared_name("net")
    eng.out("network", "create", "--label", "compat.kind=appnet", net)
    srv, cli = eng.shared_name("srv"), eng.shared_name("cli")
    eng.out(
        "run",
        "-d",
        "--name",
        srv,
        "--network",
        net,
        "--network-alias",
        "web",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    )
    eng.out("run", "-d", "--name", cli, "--network", net, "busybox", "sleep", "600")
    yield {"net": net, "srv": srv, "cli": cli}
    eng.cli("rm", "-f", srv, cli)
    eng.cli("network", "rm", net)


def http_get(host, port, path="/passwd", timeout=5):
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk


# ------------------------------------------------------------------ network objects


@pytest.mark.feature("networks")
def test_network_ls_predefined(eng):
    """`docker network ls` lists the predefined networks bridge, host and none."""
    names = eng.out("network", "ls", "--format", "{{.Name}} {{.Driver}}").splitlines()
    for expected in ("bridge bridge", "host host", "none null"):
        assert expected in names


def test_network_create_inspect(eng):
    """`docker network create --label` then inspect: bridge driver, a subnet and gateway, the label."""
    name = eng.name("net")
    nid = eng.out("network", "create", "--label", "compat.k=v", name)
    n = json.loads(eng.out("network", "inspect", name))[0]
    assert n["Id"] == nid and n["Name"] == name and n["Driver"] == "bridge" and n["Scope"] == "local"
    cfg = n["IPAM"]["Config"][0]
    assert cfg["Subnet"] and cfg["Gateway"]
    assert n["Labels"] == {"compat.k": "v"}
    assert n["Internal"] is False


def test_network_create_subnet_gateway(eng):
    """--subnet and --gateway are kept; a container on it gets an address inside the subnet."""
    name, sn = eng.name("net"), subnet()
    base = sn.rsplit(".", 1)[0]
    eng.out("network", "create", "--subnet", sn, "--gateway", f"{base}.254", name)
    cfg = json.loads(eng.out("network", "inspect", name))[0]["IPAM"]["Config"][0]
    assert (cfg["Subnet"], cfg["Gateway"]) == (sn, f"{base}.254")
    out = eng.out("run", "--rm", "--network", name, "busybox", "ip", "-4", "-o", "addr", "show", "eth0")
    assert f"inet {base}." in out and "/24" in out


def test_network_create_duplicate(eng):
    """Creating a network twice: 409 'network with name X already exists'."""
    name = eng.name("net")
    eng.out("network", "create", name)
    p = eng.cli("network", "create", name)
    assert p.returncode == 1
    assert f"network with name {name} already exists" in p.stderr


def test_network_create_overlap(eng):
    """A subnet overlapping an existing network's: 'Pool overlaps with other one on this address space'."""
    sn = subnet()
    a, b = eng.name("net"), eng.name("net")
    eng.out("network", "create", "--subnet", sn, a)
    p = eng.cli("network", "create", "--subnet", sn.replace("/24", "/25"), b)
    assert p.returncode == 1
    assert "Pool overlaps with other one on this address space" in p.stderr


def test_network_gateway_outside_subnet(eng):
    """A gateway outside its subnet is refused and no network is made.

    dockerd 20.10 answers 500 'failed to allocate gateway (192.0.2.1): Requested address is out of
    range'; a 400 (bad parameter) is the better answer, so both are accepted."""
    name, sn = eng.name("net"), subnet()
    body = {
        "Name": name,
        "Driver": "bridge",
        "IPAM": {"Driver": "default", "Config": [{"Subnet": sn, "Gateway": "192.0.2.1"}]},
    }
    r = eng.http("POST", f"{V}/networks/create", body=body)
    assert r.status in (400, 500), r
    assert "192.0.2.1" in r.message
    assert eng.cli("network", "inspect", name).returncode == 1


def test_network_rm(eng):
    """`docker network rm` prints the name; the network is then not found."""
    name = eng.name("net")
    eng.out("network", "create", name)
    assert eng.out("network", "rm", name) == name
    p = eng.cli("network", "inspect", name)
    assert p.returncode == 1 and f"network {name} not found" in p.stderr


def test_network_inspect_missing(eng):
    """GET /networks/<missing>: 404 'network X not found'."""
    name = eng.name("nosuch")
    r = eng.http("GET", f"{V}/networks/{name}")
    assert r.status == 404 and r.message == f"network {name} not found"


@pytest.mark.feature("networks")
def test_network_rm_predefined_403(eng):
    """Removing the bridge network: 403 'bridge is a pre-defined network and cannot be removed'."""
    r = eng.http("DELETE", f"{V}/networks/bridge")
    assert r.status == 403
    assert r.message == "bridge is a pre-defined network and cannot be removed"


def test_network_rm_in_use(eng):
    """Removing a network with a running container on it fails and the network stays."""
    name = eng.name("net")
    eng.out("network", "create", name)
    eng.run_d("--network", name, "busybox", "sleep", "300")
    p = eng.cli("network", "rm", name)
    assert p.returncode == 1 and "has active endpoints" in p.stderr
    assert eng.cli("network", "inspect", name).returncode == 0


def test_network_ls_filter(eng):
    """`docker network ls --filter label=...` finds networks by label."""
    name = eng.name("net")
    eng.out("network", "create", "--label", f"compat.scope={eng.scenario_prefix}", name)
    out = eng.out("network", "ls", "--filter", f"label=compat.scope={eng.scenario_prefix}", "--format", "{{.Name}}")
    assert out.splitlines() == [name]


def test_network_prune(eng):
    """`docker network prune -f --filter label=...` removes unused networks."""
    name = eng.name("net")
    eng.out("network", "create", "--label", f"compat.prune={eng.scenario_prefix}", name)
    p = eng.cli("network", "prune", "-f", "--filter", f"label=compat.prune={eng.scenario_prefix}")
    assert p.returncode == 0 and name in p.stdout
    assert eng.cli("network", "inspect", name).returncode == 1


def test_dockerpy_networks(client, eng):
    """docker-py: networks.create/get/list/remove."""
    name = eng.name("net")
    n = client.networks.create(name, driver="bridge", labels={"compat": "py"})
    assert client.networks.get(n.id).name == name
    assert name in [x.name for x in client.networks.list(names=[name])]
    n.remove()
    assert name not in [x.name for x in client.networks.list(names=[name])]


# ------------------------------------------------------------------ containers on networks


def test_inspect_network_containers_map(eng, appnet):
    """Network inspect lists its containers with their IPv4 address."""
    n = json.loads(eng.out("network", "inspect", appnet["net"]))[0]
    names = {c["Name"]: c for c in n["Containers"].values()}
    assert appnet["srv"] in names and names[appnet["srv"]]["IPv4Address"]


def test_container_networksettings(eng, appnet):
    """Container inspect: NetworkSettings.Networks[net] has IPAddress, Gateway, MacAddress, Aliases."""
    c = eng.inspect(appnet["srv"])
    ep = c["NetworkSettings"]["Networks"][appnet["net"]]
    assert ep["IPAddress"] and ep["Gateway"] and ep["MacAddress"]
    assert "web" in (ep["Aliases"] or [])


@pytest.mark.feature("dns")
def test_resolve_by_name(eng, appnet):
    """Containers on a user network resolve each other by name (nslookup) via 127.0.0.11."""
    ip = eng.inspect(appnet["srv"])["NetworkSettings"]["Networks"][appnet["net"]]["IPAddress"]
    p = eng.cli("exec", appnet["cli"], "nslookup", appnet["srv"])
    assert p.returncode == 0 and "127.0.0.11" in p.stdout and ip in p.stdout


@pytest.mark.feature("dns")
def test_resolve_by_alias(eng, appnet):
    """The network alias `web` resolves to the aliased container."""
    ip = eng.inspect(appnet["srv"])["NetworkSettings"]["Networks"][appnet["net"]]["IPAddress"]
    p = eng.cli("exec", appnet["cli"], "nslookup", "web")
    assert p.returncode == 0 and ip in p.stdout


@pytest.mark.feature("dns")
def test_user_network_resolv_conf(eng, appnet):
    """On a user network /etc/resolv.conf names the embedded resolver 127.0.0.11."""
    assert "nameserver 127.0.0.11" in eng.out("exec", appnet["cli"], "cat", "/etc/resolv.conf")


def test_reach_by_name_nc(eng, appnet):
    """A container reaches another's httpd by name on the same network (nc)."""
    p = eng.cli(
        "exec", appnet["cli"], "sh", "-c", f"printf 'GET /passwd HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {appnet['srv']} 80"
    )
    assert "200 OK" in p.stdout and "root:x:0:0" in p.stdout


def test_ping_same_network(eng, appnet):
    """ping by name works between containers of one network."""
    p = eng.cli("exec", appnet["cli"], "ping", "-c", "1", "-W", "2", appnet["srv"])
    assert p.returncode == 0 and "1 packets received" in p.stdout


def test_isolated_networks(eng, appnet):
    """A container on another network can neither resolve nor reach `srv`."""
    other = eng.name("net")
    eng.out("network", "create", other)
    ip = eng.inspect(appnet["srv"])["NetworkSettings"]["Networks"][appnet["net"]]["IPAddress"]
    p = eng.cli(
        "run",
        "--rm",
        "--network",
        other,
        "busybox",
        "sh",
        "-c",
        f"nslookup {appnet['srv']} >/dev/null 2>&1 && echo RESOLVED; "
        f"ping -c 1 -W 1 {ip} >/dev/null 2>&1 && echo REACHED; echo checked",
    )
    assert p.stdout.split() == ["checked"]


def test_connect_disconnect(eng, appnet):
    """network connect adds an interface to a running container; disconnect removes it."""
    name = eng.run_d("busybox", "sleep", "300")
    eng.out("network", "connect", appnet["net"], name)
    assert "eth1" in eng.out("exec", name, "ip", "-o", "link")
    assert appnet["net"] in eng.inspect(name)["NetworkSettings"]["Networks"]
    eng.out("network", "disconnect", appnet["net"], name)
    assert "eth1" not in eng.out("exec", name, "ip", "-o", "link")
    assert appnet["net"] not in eng.inspect(name)["NetworkSettings"]["Networks"]


def test_connect_twice(eng, appnet):
    """Connecting a container to a network it is already on is refused."""
    p = eng.cli("network", "connect", appnet["net"], appnet["cli"])
    assert p.returncode == 1
    assert "already exists in network" in p.stderr


def test_connect_unknown_network(eng, appnet):
    """Connecting to an unknown network: 404 'network X not found'."""
    name = eng.name("nosuch")
    r = eng.http("POST", f"{V}/networks/{name}/connect", body={"Container": appnet["cli"]})
    assert r.status == 404 and f"network {name} not found" in r.message


def test_network_container_mode(eng, appnet):
    """--network container:X shares X's network stack: localhost:80 is X's httpd."""
    p = eng.cli(
        "run",
        "--rm",
        "--network",
        f"container:{appnet['srv']}",
        "busybox",
        "sh",
        "-c",
        "printf 'GET /passwd HTTP/1.0\\r\\n\\r\\n' | nc -w 3 127.0.0.1 80",
    )
    assert "root:x:0:0" in p.stdout


@pytest.mark.feature("networks")
def test_default_bridge_address(eng):
    """On the default bridge a container gets eth0 with the bridge gateway as default route."""
    name = eng.run_d("busybox", "sleep", "300")
    c = eng.inspect(name)
    ip, gw = c["NetworkSettings"]["IPAddress"], c["NetworkSettings"]["Gateway"]
    assert ip and gw and c["NetworkSettings"]["Networks"]["bridge"]["IPAddress"] == ip
    assert f"default via {gw} dev eth0" in eng.out("exec", name, "ip", "route")


@pytest.mark.feature("dns")
def test_default_bridge_no_name_resolution(eng):
    """On the default bridge containers do not resolve each other's names (dockerd's behaviour)."""
    a = eng.run_d("busybox", "sleep", "300")
    p = eng.cli("run", "--rm", "busybox", "nslookup", a)
    assert p.returncode != 0 or "Address" not in p.stdout.split("Name:")[-1]


@pytest.mark.feature("dns")
def test_hosts_file(eng):
    """/etc/hosts has localhost and the container's own address and hostname."""
    name = eng.run_d("--hostname", "hostfile", "busybox", "sleep", "300")
    ip = eng.inspect(name)["NetworkSettings"]["IPAddress"]
    hosts = eng.out("exec", name, "cat", "/etc/hosts")
    assert "127.0.0.1\tlocalhost" in hosts
    assert any(ln.split()[:2] == [ip, "hostfile"] for ln in hosts.splitlines() if ln.strip())
    c = eng.inspect(name)
    assert c["HostsPath"] and c["ResolvConfPath"] and c["HostnamePath"]


@pytest.mark.feature("dns")
def test_add_host(eng):
    """--add-host name:ip shows in /etc/hosts."""
    out = eng.out("run", "--rm", "--add-host", "compat.example:192.0.2.10", "busybox", "cat", "/etc/hosts")
    assert any(ln.split() == ["192.0.2.10", "compat.example"] for ln in out.splitlines())


@pytest.mark.feature("dns")
def test_dns_options(eng):
    """--dns, --dns-search and --dns-option are written to /etc/resolv.conf."""
    out = eng.out(
        "run",
        "--rm",
        "--dns",
        "192.0.2.53",
        "--dns-search",
        "compat.test",
        "--dns-option",
        "ndots:2",
        "busybox",
        "cat",
        "/etc/resolv.conf",
    )
    lines = out.splitlines()
    assert "nameserver 192.0.2.53" in lines
    assert "search compat.test" in lines
    assert "options ndots:2" in lines


@pytest.mark.feature("dns")
def test_resolv_conf_no_loopback(eng):
    """On the default bridge resolv.conf carries no loopback nameserver (those are removed)."""
    out = eng.out("run", "--rm", "busybox", "cat", "/etc/resolv.conf")
    servers = [ln.split()[1] for ln in out.splitlines() if ln.startswith("nameserver")]
    assert not any(s.startswith("127.") for s in servers)


@pytest.mark.feature("links")
def test_link_env_and_hosts(eng):
    """--link name:alias gives ALIAS_NAME and ALIAS_PORT_80_TCP variables and a hosts entry."""
    target = eng.run_d("--expose", "80", "busybox", "sleep", "300")
    ip = eng.inspect(target)["NetworkSettings"]["IPAddress"]
    out = eng.out("run", "--rm", "--link", f"{target}:db", "busybox", "sh", "-c", "env; echo ----; cat /etc/hosts")
    env, hosts = out.split("----")
    env = dict(ln.split("=", 1) for ln in env.split())
    assert env["DB_PORT_80_TCP"] == f"tcp://{ip}:80"
    assert env["DB_PORT_80_TCP_ADDR"] == ip
    assert env["DB_NAME"].endswith("/db")
    assert any(ln.split()[:2] == [ip, "db"] for ln in hosts.splitlines() if ln.strip())


def test_internal_network(eng):
    """An --internal network is marked Internal; its containers still reach each other."""
    name = eng.name("net")
    eng.out("network", "create", "--internal", name)
    assert json.loads(eng.out("network", "inspect", name))[0]["Internal"] is True
    a = eng.run_d("--network", name, "busybox", "sleep", "300")
    p = eng.cli("run", "--rm", "--network", name, "busybox", "ping", "-c", "1", "-W", "2", a)
    assert p.returncode == 0, p.stdout + p.stderr


# ------------------------------------------------------------------ published ports


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(eng, port):
    def attempt():
        try:
            return http_get("127.0.0.1", port)
        except OSError:
            return None

    return eng.wait_for(attempt, timeout=10, what=f"http on 127.0.0.1:{port}")


@pytest.mark.feature("ports")
def test_publish_port(eng):
    """-p 127.0.0.1:PORT:80 with httpd: an HTTP GET from the host returns the container's file."""
    port = free_port()
    eng.run_d("-p", f"127.0.0.1:{port}:80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
    data = wait_http(eng, port)
    assert data.startswith(b"HTTP/1.") and b"root:x:0:0" in data


@pytest.mark.feature("ports")
def test_publish_random_port(eng):
    """-p 127.0.0.1::80 picks a free host port; `docker port` shows it and it answers."""
    name = eng.run_d("-p", "127.0.0.1::80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
    out = eng.out("port", name, "80/tcp")
    host, port = out.splitlines()[0].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    assert b"root:x:0:0" in wait_http(eng, int(port))


@pytest.mark.feature("ports")
def test_publish_all(eng):
    """-P publishes --expose'd ports; inspect NetworkSettings.Ports and `docker port` agree."""
    name = eng.run_d("-P", "--expose", "80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
    ports = eng.inspect(name)["NetworkSettings"]["Ports"]["80/tcp"]
    assert ports and int(ports[0]["HostPort"]) > 0
    assert f":{ports[0]['HostPort']}" in eng.out("port", name, "80")


@pytest.mark.feature("ports")
def test_publish_port_in_ps(eng):
    """`docker ps` shows the published port mapping."""
    port = free_port()
    name = eng.run_d("-p", f"127.0.0.1:{port}:80", "busybox", "sleep", "300")
    assert f"127.0.0.1:{port}->80/tcp" in eng.out("ps", "--filter", f"name={name}", "--format", "{{.Ports}}")


@pytest.mark.feature("ports")
def test_publish_port_taken(eng):
    """Publishing a host port that is already in use fails and leaves the container not running."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        name = eng.name("c")
        p = eng.cli("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:80", "busybox", "sleep", "300")
        assert p.returncode != 0
        assert "address already in use" in p.stderr or "port is already allocated" in p.stderr
        assert eng.inspect(name)["State"]["Running"] is False
    finally:
        taken.close()


@pytest.mark.feature("ports")
def test_publish_udp_in_inspect(eng):
    """-p 127.0.0.1:PORT:53/udp is listed under 53/udp."""
    port = free_port()
    name = eng.run_d("-p", f"127.0.0.1:{port}:53/udp", "busybox", "sleep", "300")
    ports = eng.inspect(name)["NetworkSettings"]["Ports"]
    assert ports["53/udp"] == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]


@pytest.mark.feature("ports")
def test_dockerpy_ports(client, eng):
    """docker-py: containers.run(ports={'80/tcp': ('127.0.0.1', port)}) serves on that port."""
    port = free_port()
    client.containers.run(
        "busybox",
        ["httpd", "-f", "-p", "80", "-h", "/etc"],
        detach=True,
        name=eng.name("c"),
        ports={"80/tcp": ("127.0.0.1", port)},
    )
    assert b"root:x:0:0" in wait_http(eng, port)


@pytest.mark.feature("ports")
def test_port_none_published(eng):
    """`docker port` of a container with nothing published prints nothing and exits 0."""
    name = eng.run_d("busybox", "sleep", "300")
    p = eng.cli("port", name)
    assert (p.returncode, p.stdout) == (0, "")


def test_create_with_unknown_endpoints_config_network(eng):
    """A create whose NetworkingConfig names a network that does not exist: what dockerd answers
    (create accepted; start refuses, naming the network)."""
    name = eng.name("epc")
    missing = eng.name("nonet")
    body = {"Image": "busybox", "Cmd": ["true"], "NetworkingConfig": {"EndpointsConfig": {missing: {}}}}
    r = eng.http("POST", f"{V}/containers/create?name={name}", body)
    if r.status == 201:
        s = eng.http("POST", f"{V}/containers/{name}/start")
        assert s.status == 404 and f"network {missing} not found" in s.message, s
    else:
        assert r.status == 404 and f"network {missing} not found" in r.message, r
