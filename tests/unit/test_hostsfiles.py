"""Pure content of /etc/hosts, /etc/resolv.conf and the legacy link environment."""

from shim.engine import hostsfiles as hf


def test_hosts_defaults_extra_and_own_record():
    extra = hf.extra_hosts(["db:10.0.0.5", "gw:host-gateway"], "10.213.1.1")
    text = hf.hosts("abc123", "example.org", "10.213.1.2", extra)
    lines = text.splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert "10.0.0.5\tdb" in lines and "10.213.1.1\tgw" in lines
    assert lines[-1] == "10.213.1.2\tabc123.example.org abc123"


def test_link_hosts_as_dockerd():
    assert hf.link_hosts([("db", "h1", "db", "1.2.3.4")])[0].names == "db h1"
    assert hf.link_hosts([("alias", "h1", "real", "1.2.3.4")])[0].names == "alias h1 real"


def test_resolv_conf_filters_loopback_and_falls_back():
    host = hf.parse_resolv_conf("nameserver 127.0.0.53\nsearch corp\noptions edns0\n")
    text = hf.resolv_conf(host, [], [], [], embedded=False)
    assert text == "search corp\nnameserver 8.8.8.8\nnameserver 8.8.4.4\noptions edns0\n"
    text = hf.resolv_conf(host, ["1.1.1.1"], ["a.b"], ["ndots:2"], embedded=False)
    assert text == "search a.b\nnameserver 1.1.1.1\noptions ndots:2\n"
    assert hf.resolv_conf(host, [], ["."], [], embedded=False).startswith("nameserver")


def test_resolv_conf_embedded():
    host = hf.parse_resolv_conf("nameserver 10.9.9.9\n")
    assert hf.resolv_conf(host, [], [], [], embedded=True) == "nameserver 127.0.0.11\noptions ndots:0\n"
    assert hf.upstream_nameservers(host, []) == ["10.9.9.9"]


def test_link_env():
    env = hf.link_env("web", "db", "10.0.0.3", ["5432/tcp", "80/tcp"], ["PATH=/bin", "PASS=x", "HOME=/r"])
    assert env[0] == "DB_PORT=tcp://10.0.0.3:80"
    assert "DB_PORT_5432_TCP=tcp://10.0.0.3:5432" in env
    assert "DB_PORT_80_TCP_ADDR=10.0.0.3" in env and "DB_PORT_80_TCP_PORT=80" in env
    assert "DB_PORT_80_TCP_PROTO=tcp" in env
    assert "DB_NAME=/web/db" in env and "DB_ENV_PASS=x" in env
    assert not any(e.startswith(("DB_ENV_PATH", "DB_ENV_HOME")) for e in env)


def test_parse_link_forms():
    assert hf.parse_link("db:alias") == ("db", "alias")
    assert hf.parse_link("db") == ("db", "db")
    assert hf.parse_link("/db:/web/alias") == ("db", "alias")
