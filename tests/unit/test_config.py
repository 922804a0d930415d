import json
import re

import pytest

from shim.config import ConfigError, load, reload


def test_defaults(tmp_path):
    s = load([])
    assert s.hosts == ["unix:///run/shim/docker.sock"] and s.data_root == "/var/lib/shim"
    assert s.exec_root == "/run/shim" and s.pidfile == "/run/shim/shimd.pid"


def test_file_and_flags_merge(tmp_path):
    f = tmp_path / "daemon.json"
    f.write_text(json.dumps({"data-root": "/d", "log-level": "debug"}))
    s = load(["--config-file", str(f), "-H", "unix:///x.sock", "-H", "unix:///y.sock"])
    assert s.data_root == "/d" and s.log_level == "debug" and s.hosts == ["unix:///x.sock", "unix:///y.sock"]


def test_same_key_in_both_is_an_error(tmp_path):
    f = tmp_path / "daemon.json"
    f.write_text(json.dumps({"data-root": "/d"}))
    with pytest.raises(ConfigError, match="specified both as a flag and in the configuration file: data-root"):
        load(["--config-file", str(f), "--data-root", "/e"])


def test_unknown_key_is_an_error(tmp_path):
    f = tmp_path / "daemon.json"
    f.write_text(json.dumps({"no-such-key": 1}))
    with pytest.raises(ConfigError, match="don't match any configuration option: no-such-key"):
        load(["--config-file", str(f)])


# --- TLS switches, as dockerd's options.go + loadDaemonCliConfig --------------------------------


def _cfg(tmp_path, body=None):
    f = tmp_path / "daemon.json"
    f.write_text(json.dumps(body or {}))
    return ["--config-file", str(f)]


def test_tls_not_said_is_none(tmp_path):
    s = load(_cfg(tmp_path))
    assert s.tls is None and s.tlsverify is None and not s.tls_enabled and not s.verify_clients


def test_tls_alone_verifies_clients_as_dockerd(tmp_path):
    # dockerd ≥ 20.10 (moby 5f5285a6): "Enable tls verification unless explicitly disabled"
    s = load([*_cfg(tmp_path), "--tls"])
    assert s.tls is True and s.tlsverify is True and s.verify_clients


def test_tlsverify_false_is_tls_without_client_verification(tmp_path):
    s = load([*_cfg(tmp_path), "--tlsverify=false"])
    assert s.tls is True and s.tlsverify is False and s.tls_enabled and not s.verify_clients


def test_tls_false_is_an_explicit_plain_listener(tmp_path):
    s = load([*_cfg(tmp_path), "--tls=false", "-H", "tcp://127.0.0.1:2375"])
    assert s.tls is False and s.tlsverify is False and not s.tls_enabled


def test_tls_from_the_file_follows_the_same_rules(tmp_path):
    s = load(_cfg(tmp_path, {"tlsverify": False, "tlscert": "/c.pem", "tlskey": "/k.pem"}))
    assert s.tls is True and not s.verify_clients and s.tlscert == "/c.pem" and s.tlskey == "/k.pem"


def test_tls_in_flag_and_file_is_the_usual_clash(tmp_path):
    with pytest.raises(ConfigError, match="specified both as a flag and in the configuration file: tlsverify"):
        load([*_cfg(tmp_path, {"tlsverify": True}), "--tlsverify"])


def test_tls_without_hosts_listens_on_2376(tmp_path):
    # dockerd: no -H but --tls means tcp://localhost:2376 instead of the unix socket
    assert load([*_cfg(tmp_path), "--tlsverify"]).hosts == ["tcp://localhost:2376"]


def test_certificate_defaults_come_from_docker_cert_path(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CERT_PATH", "/certs")
    s = load([*_cfg(tmp_path), "--tlsverify", "--tlskey", "/other/key.pem"])
    assert (s.tlscacert, s.tlscert, s.tlskey) == ("/certs/ca.pem", "/certs/cert.pem", "/other/key.pem")


def test_bad_boolean_flag_value(tmp_path, capsys):
    with pytest.raises(SystemExit):
        load([*_cfg(tmp_path), "--tls=maybe"])
    assert 'parse error on "maybe"' in capsys.readouterr().err


def test_hosts_are_normalised_and_bad_ones_refused(tmp_path):
    assert load([*_cfg(tmp_path), "-H", "tcp://", "--tls=false"]).hosts == ["tcp://localhost:2375"]
    with pytest.raises(ConfigError, match="unsupported proto 'udp'"):
        load([*_cfg(tmp_path), "-H", "udp://x:1"])


def test_wrong_json_type_named_as_go_does(tmp_path):
    want = "cannot unmarshal string into Go struct field Config.tls of type bool"
    with pytest.raises(ConfigError, match=re.escape(want)):
        load(_cfg(tmp_path, {"tls": "yes"}))


# --- reloadable keys ----------------------------------------------------------------------------


def test_labels_validated_as_dockerd(tmp_path):
    assert load([*_cfg(tmp_path), "--label", "a=1", "--label", "a=1", "--label", "b=2"]).labels == ["a=1", "b=2"]
    with pytest.raises(ConfigError, match="bad attribute format: nolabel"):
        load(_cfg(tmp_path, {"labels": ["nolabel"]}))
    with pytest.raises(ConfigError, match="conflict labels for a=2 and a=1"):
        load(_cfg(tmp_path, {"labels": ["a=1", "a=2"]}))
    with pytest.raises(ConfigError, match=re.escape("the namespaces com.docker.*")):
        load(_cfg(tmp_path, {"labels": ["com.docker.x=1"]}))


def test_max_concurrent_defaults_and_limits(tmp_path):
    s = load(_cfg(tmp_path, {"max-concurrent-downloads": 0, "max-concurrent-uploads": 7}))
    assert (s.max_concurrent_downloads, s.max_concurrent_uploads, s.max_download_attempts) == (3, 7, 5)
    with pytest.raises(ConfigError, match="invalid max concurrent downloads: -1"):
        load(_cfg(tmp_path, {"max-concurrent-downloads": -1}))


def test_registry_keys_stored_and_mirrors_checked(tmp_path):
    s = load(_cfg(tmp_path, {"insecure-registries": ["10.0.0.0/8", "reg:5000"], "registry-mirrors": ["https://m"]}))
    assert s.insecure_registries == ["10.0.0.0/8", "reg:5000"] and s.registry_mirrors == ["https://m/"]
    with pytest.raises(ConfigError, match=re.escape('invalid mirror: no scheme specified for "m.example"')):
        load(_cfg(tmp_path, {"registry-mirrors": ["m.example"]}))


def test_debug_wins_over_log_level_without_rewriting_it(tmp_path):
    s = load([*_cfg(tmp_path, {"log-level": "warn"}), "-D"])
    assert s.debug and s.log_level == "warn" and s.effective_log_level == "debug"


def test_reload_reads_the_file_again_with_the_start_flags(tmp_path):
    args = _cfg(tmp_path, {"labels": ["a=1"]})
    s = load([*args, "--data-root", "/d"])
    (tmp_path / "daemon.json").write_text(json.dumps({"labels": ["b=2"], "debug": True}))
    new, was_set = reload(s)
    assert new.labels == ["b=2"] and new.debug and new.data_root == "/d"
    assert {"labels", "debug", "data_root"} <= was_set and "registry_mirrors" not in was_set


def test_reload_refuses_a_key_the_flags_already_set(tmp_path):
    s = load([*_cfg(tmp_path), "--label", "a=1"])
    (tmp_path / "daemon.json").write_text(json.dumps({"labels": ["b=2"]}))
    with pytest.raises(ConfigError, match="specified both as a flag and in the configuration file: labels"):
        reload(s)


def test_version_line(capsys):
    with pytest.raises(SystemExit) as e:
        load(["--version"])
    assert e.value.code == 0
    assert re.fullmatch(r"shimd version \d+\.\d+\.\d+, API 1\.\d+ \(minimum 1\.12\)\n", capsys.readouterr().out)


def test_security_flags_and_keys(tmp_path):
    f = tmp_path / "daemon.json"
    f.write_text(json.dumps({"seccomp-profile": "/p.json", "no-new-privileges": True}))
    s = load(["--config-file", str(f), "--default-cgroupns-mode", "private"])
    assert (s.seccomp_profile, s.no_new_privileges, s.default_cgroupns_mode) == ("/p.json", True, "private")
    assert load([]).seccomp_profile == "builtin"
    with pytest.raises(ConfigError, match="userns-remap"):
        load(["--userns-remap", "default"])
    with pytest.raises(ConfigError, match=r"invalid default cgroup namespace \(x\)"):
        load(["--default-cgroupns-mode", "x"])
