import json

import pytest

from shim.config import ConfigError, load


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
