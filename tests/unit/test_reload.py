"""SIGHUP reload rules (moby daemon/reload.go) and the /info fields that show them."""

import json

from shim.config import Settings
from shim.engine.events import Events
from shim.engine.reload import apply, publish_reload
from shim.translate import system as tr


def test_absent_keys_keep_running_values_max_keys_reset():
    live = Settings(labels=["a=1"], debug=True, max_concurrent_downloads=9, insecure_registries=["r:5000"])
    new = Settings(labels=[], debug=False, registry_mirrors=["https://m/"])
    attrs = apply(live, new, was_set={"registry_mirrors"})
    assert live.labels == ["a=1"] and live.debug and live.insecure_registries == ["r:5000"]
    assert live.registry_mirrors == ["https://m/"] and live.max_concurrent_downloads == 3
    assert attrs["debug"] == "true" and attrs["labels"] == '["a=1"]' and attrs["max-concurrent-downloads"] == "3"
    assert attrs["registry-mirrors"] == '["https://m/"]' and attrs["insecure-registries"] == '["r:5000"]'


def test_set_keys_replace_running_values():
    live = Settings(labels=["a=1"], debug=True, log_level="info")
    apply(live, Settings(labels=["b=2"], debug=False, log_level="warn"), was_set={"labels", "debug", "log_level"})
    assert live.labels == ["b=2"] and not live.debug and live.effective_log_level == "warn"


def test_reload_event_is_dockerds():
    events = Events()
    publish_reload(events, "DAEMON-ID", "host1", {"debug": "false"})
    ev = events.history(None, None)[-1]
    assert ev["Type"] == "daemon" and ev["Action"] == "reload" and ev["Actor"]["ID"] == "DAEMON-ID"
    assert ev["Actor"]["Attributes"] == {"debug": "false", "name": "host1"}
    assert "status" not in ev  # the deprecated fields are for containers and images only


def test_registry_config_from_settings():
    rc = tr.registry_config(["10.1.0.0/16", "reg.local:5000", "http://old:5000"], ["https://mirror.example/"])
    assert rc["InsecureRegistryCIDRs"] == ["::1/128", "127.0.0.0/8", "10.1.0.0/16"]
    assert rc["IndexConfigs"]["reg.local:5000"] == {
        "Name": "reg.local:5000",
        "Mirrors": [],
        "Secure": False,
        "Official": False,
    }
    assert "old:5000" in rc["IndexConfigs"] and rc["Mirrors"] == ["https://mirror.example/"]
    assert rc["IndexConfigs"]["docker.io"]["Mirrors"] == ["https://mirror.example/"]


def test_api_warnings_as_dockerds_info():
    hosts = ["unix:///s", "tcp://127.0.0.1:2375"]
    (plain,) = tr.api_warnings(hosts, tls=False, verify=False)
    assert plain.startswith("WARNING: API is accessible on http://127.0.0.1:2375 without encryption.")
    assert "Docker daemon attack surface" in plain
    (half,) = tr.api_warnings(hosts, tls=True, verify=False)
    assert "https://127.0.0.1:2375 without TLS client verification" in half
    assert tr.api_warnings(hosts, tls=True, verify=True) == []
    assert json.dumps(tr.api_warnings(["unix:///s"], tls=False, verify=False)) == "[]"
