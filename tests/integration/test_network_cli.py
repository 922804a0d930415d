"""Container networking through the real docker CLI and docker-py against a private shimd.

The module has its own daemon (own bridge, own 10.213.x.0/24 subnet) so its last test can
stop it and assert that no bridge, veth, namespace or iptables rule of it is left.
Traffic goes only to 127.0.0.1 and to containers on this daemon's bridges. Names are resolved
with nslookup through the embedded DNS only (never a name the host's resolver would get).
"""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from tests.integration.netsvc_helpers import leftovers
from tests.shimd_harness import Shimd
from tests.waiting import wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

HTTPD = ["busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]


@pytest.fixture(scope="module")
def d():
    daemon = Shimd()
    try:
        daemon.start()
        daemon.load_busybox()
        yield daemon
    finally:
        daemon.destroy()


@pytest.fixture
def name():
    made: list[str] = []

    def new(prefix: str = "n") -> str:
        made.append(f"{prefix}-{uuid.uuid4().hex[:8]}")
        return made[-1]

    yield new


@pytest.fixture(autouse=True)
def _cleanup(d):
    yield
    if d.proc is None:
        return
    ids = d.cli("ps", "-aq", check=False).stdout.split()
    if ids:
        d.cli("rm", "-f", *ids, check=False)
    d.cli("network", "prune", "-f", check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port: int, path: str = "/passwd") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def wait_http(port: int) -> bytes:
    """The first answer on a published port (the server in the container may not listen yet)."""

    def answer() -> bytes | None:
        try:
            return http_get(port)
        except OSError:
            return None

    return wait_for(answer, f"an HTTP answer on 127.0.0.1:{port}")


def test_publish_on_localhost(d, name):
    port = free_port()
    c = name("web")
    d.cli("run", "-d", "--name", c, "-p", f"127.0.0.1:{port}:80", *HTTPD)
    body = wait_http(port)
    assert body.startswith(b"HTTP/1.") and b"root:x:0:0:" in body
    assert d.cli("port", c).stdout.strip() == f"80/tcp -> 127.0.0.1:{port}"
    info = d.client.api.inspect_container(c)["NetworkSettings"]
    assert info["Ports"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    # docker-py speaks 1.56: the default bridge's addresses are in Networks only (1.52 removed the copies)
    assert info["Networks"]["bridge"]["IPAddress"].startswith(d.bip.rsplit(".", 1)[0] + ".")
    assert info["Networks"]["bridge"]["MacAddress"].startswith("02:42:")
    # the same host port again: dockerd's error, the container is left not running and nothing stays behind
    rules_before = our_rules(d)
    r = d.cli("run", "-d", "--name", name("dup"), "-p", f"127.0.0.1:{port}:80", *HTTPD, check=False)
    assert r.returncode == 125
    assert f"Bind for 127.0.0.1:{port} failed: port is already allocated" in r.stderr
    assert our_rules(d) == rules_before
    assert len(os.listdir(os.path.join(d.exec_root, "netns"))) == 1


def test_publish_all_and_docker_port(d, name):
    c = name("pall")
    d.cli("run", "-d", "--name", c, "--expose", "80", "-P", *HTTPD)
    out = d.cli("port", c, "80/tcp").stdout.strip()
    host, port = out.rsplit(":", 1)
    assert host == "0.0.0.0"
    assert d.client.api.inspect_container(c)["NetworkSettings"]["Ports"]["80/tcp"] == [
        {"HostIp": "0.0.0.0", "HostPort": port}
    ]
    assert b"root:x:0:0:" in wait_http(int(port))


def test_user_network_names_aliases_isolation(d, name):
    net, other = name("appnet"), name("othernet")
    d.cli("network", "create", net)
    d.cli("network", "create", other)
    srv = name("srv")
    d.cli("run", "-d", "--name", srv, "--network", net, "--network-alias", "web", *HTTPD)
    ip = d.client.api.inspect_container(srv)["NetworkSettings"]["Networks"][net]["IPAddress"]
    fetch = (
        "ip=$(nslookup {n} 127.0.0.11 | awk '/^Address: /{{print $2}}' | tail -1); echo ip=$ip; "
        "printf 'GET /passwd HTTP/1.0\\r\\n\\r\\n' | nc -w 3 $ip 80"
    )
    for target in (srv, "web"):
        r = d.cli("run", "--rm", "--network", net, "busybox", "sh", "-c", fetch.format(n=target))
        assert f"ip={ip}" in r.stdout and "root:x:0:0:" in r.stdout, r
    r = d.cli("run", "--rm", "--network", net, "busybox", "cat", "/etc/resolv.conf")
    assert r.stdout.startswith("nameserver 127.0.0.11\n")
    # another network: no name, no route (the positive control above used the same client)
    r = d.cli(
        "run",
        "--rm",
        "--network",
        other,
        "busybox",
        "sh",
        "-c",
        f"nslookup {srv} 127.0.0.11 >/dev/null 2>&1 && echo resolved; "
        f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {ip} 80; echo rc=$?",
        check=False,
    )
    assert "resolved" not in r.stdout and "rc=1" in r.stdout and "HTTP" not in r.stdout, r
    inspect = d.client.api.inspect_network(net)
    assert list(inspect["Containers"]) == [d.client.api.inspect_container(srv)["Id"]]
    r = d.cli("network", "rm", net, check=False)
    assert r.returncode != 0 and "has active endpoints" in r.stderr


def test_network_modes(d, name):
    r = d.cli("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link")
    assert [ln.split(":")[1].strip() for ln in r.stdout.splitlines()] == ["lo"]
    r = d.cli("run", "--rm", "--network", "host", "busybox", "ip", "-o", "link")
    assert d.bridge in r.stdout
    first = name("first")
    d.cli("run", "-d", "--name", first, "busybox", "sleep", "300")
    ip = d.client.api.inspect_container(first)["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    r = d.cli("run", "--rm", "--network", f"container:{first}", "busybox", "ip", "-o", "-4", "addr", "show", "eth0")
    assert f"inet {ip}/" in r.stdout


def test_links_hosts_entry(d, name):
    db = name("db")
    d.cli("run", "-d", "--name", db, "--expose", "5432", "-e", "PASS=x", "busybox", "sleep", "300")
    ip = d.client.api.inspect_container(db)["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    r = d.cli("run", "--rm", "--link", f"{db}:data", "busybox", "cat", "/etc/hosts")
    assert f"{ip}\tdata " in r.stdout and r.stdout.rstrip().split("\n")[-2].endswith(db)


def test_links_env(d, name):
    db = name("db")
    d.cli("run", "-d", "--name", db, "--expose", "5432", "-e", "PASS=x", "busybox", "sleep", "300")
    ip = d.client.api.inspect_container(db)["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    r = d.cli("run", "--rm", "--link", f"{db}:data", "busybox", "env")
    assert f"DATA_PORT=tcp://{ip}:5432" in r.stdout and "DATA_ENV_PASS=x" in r.stdout


def test_files_from_options(d, name):
    r = d.cli(
        "run",
        "--rm",
        "--hostname",
        "myhost",
        "--add-host",
        "foo:10.1.2.3",
        "--add-host",
        "gw:host-gateway",
        "--dns",
        "10.9.8.7",
        "--dns-search",
        "example.org",
        "--dns-option",
        "ndots:3",
        "busybox",
        "sh",
        "-c",
        "cat /etc/hostname /etc/hosts /etc/resolv.conf; hostname",
    )
    out = r.stdout
    assert out.startswith("myhost\n") and out.rstrip().endswith("myhost")
    assert "10.1.2.3\tfoo\n" in out and f"{d.bip.split('/')[0]}\tgw\n" in out
    assert "search example.org\nnameserver 10.9.8.7\noptions ndots:3\n" in out


def test_connect_disconnect_running(d, name):
    c, net = name("live"), name("side")
    d.cli("network", "create", "--subnet", "10.213.250.0/24", net)
    d.cli("run", "-d", "--name", c, "busybox", "sleep", "300")
    d.cli("network", "connect", "--alias", "side-alias", net, c)
    r = d.cli("exec", c, "ip", "-o", "-4", "addr")
    assert "eth1" in r.stdout and "10.213.250.2/24" in r.stdout
    r = d.cli("network", "connect", net, c, check=False)
    assert r.returncode != 0 and "already exists in network" in r.stderr
    d.cli("network", "disconnect", net, c)
    assert "eth1" not in d.cli("exec", c, "ip", "-o", "link").stdout
    d.cli("network", "rm", net)


def test_docker_py(d, name):
    client = d.client
    net = client.networks.create(name("pynet"), driver="bridge", labels={"k": "v"})
    try:
        assert client.networks.get(net.id).name == net.name
        assert net.name in [n.name for n in client.networks.list()]
        port = free_port()
        c = client.containers.run("busybox", HTTPD, detach=True, ports={"80/tcp": ("127.0.0.1", port)}, name=name("py"))
        assert b"root:x:0:0:" in wait_http(port)
        net.connect(c, aliases=["pyalias"])
        net.reload()
        assert c.id in net.attrs["Containers"]
        net.disconnect(c)
        c.remove(force=True)
    finally:
        net.remove()


def test_internal_network_and_static_ip(d, name):
    net = name("internal")
    d.cli("network", "create", "--internal", "--subnet", "10.213.249.0/24", net)
    r = d.cli(
        "run",
        "--rm",
        "--network",
        net,
        "--ip",
        "10.213.249.9",
        "busybox",
        "sh",
        "-c",
        "ip -o -4 addr show eth0; echo routes; ip route",
    )
    assert "inet 10.213.249.9/24" in r.stdout
    assert "default" not in r.stdout.split("routes", 1)[1]  # no way out
    ls = d.cli("network", "ls", "--filter", f"name={net}", "--format", "{{.Name}} {{.Driver}} {{.Scope}}").stdout
    assert ls.strip() == f"{net} bridge local"
    # not with --rm: the engine does not yet remove an AutoRemove container whose start failed
    r = d.cli("run", "--ip", "172.17.0.9", "busybox", "true", check=False)
    assert r.returncode == 125
    assert "user specified IP address is supported on user defined networks only" in r.stderr


def test_zz_sigkill_restart_keeps_ports_then_nothing_left(d, name):
    """Last in the module: it stops the daemon."""
    port = free_port()
    c, net, gone = name("survivor"), name("keepnet"), name("gone")
    d.cli("network", "create", net)
    d.cli("run", "-d", "--name", c, "--network", net, "--network-alias", "alive", "-p", f"127.0.0.1:{port}:80", *HTTPD)
    d.cli("run", "-d", "--name", gone, "--network", net, "busybox", "sleep", "300")
    gone_pid = d.client.api.inspect_container(gone)["State"]["Pid"]
    wait_http(port)
    d.stop(kill=True)
    os.kill(gone_pid, 9)  # exits while shimd is down: its endpoint must be released at restore
    d.start()
    assert b"root:x:0:0:" in wait_http(port)
    ip = d.client.api.inspect_container(c)["NetworkSettings"]["Networks"][net]["IPAddress"]
    r = d.cli("exec", c, "nslookup", "alive", "127.0.0.11")
    assert ip in r.stdout  # the survivor's embedded DNS server came back with the daemon
    assert len(os.listdir(os.path.join(d.exec_root, "netns"))) == 1
    d.cli("rm", "-f", c, gone)
    d.stop()
    assert leftovers_now(d) == []


def our_rules(d) -> str:
    import asyncio

    from shim.runtime.iptables import Firewall

    return asyncio.run(Firewall(d.bridge).dump())


def leftovers_now(d) -> list[str]:
    import asyncio

    return asyncio.run(leftovers(d.bridge, d.exec_root))
