"""Unit: LogConfig merged and verified as dockerd's mergeAndVerifyLogConfig (+ the drivers' own
checks), the runtime's policy, attributes for --details, and the daemon's --log-opt/log-opts."""

from __future__ import annotations

import json

import pytest

from shim import config
from shim.engine import logconfig as lc
from shim.engine.ports import LogPolicy
from shim.errors import InvalidParameter

FAIL = "failed to initialize logging driver: "


@pytest.mark.parametrize(
    "text, size",
    [
        ("10k", 10_000),
        ("10K", 10_000),
        ("10kb", 10_000),
        ("10 KiB", 10_000),
        ("1.5m", 1_500_000),
        ("7", 7),
        ("2g", 2e9),
    ],
)
def test_from_human_size_is_decimal(text, size):
    assert lc.from_human_size(text) == size


@pytest.mark.parametrize("text", ["banana", "10x", "-1", "", "k"])
def test_from_human_size_refuses(text):
    with pytest.raises(ValueError, match=f"^invalid size: '{text}'$"):
        lc.from_human_size(text)


def test_defaults_merged_for_the_same_driver_only():
    dflt = {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}
    assert lc.verify({"Config": {"max-file": "5"}}, dflt) == {
        "Type": "json-file",
        "Config": {"max-file": "5", "max-size": "10m"},
    }
    assert lc.verify({"Type": "local"}, dflt) == {"Type": "local", "Config": {}}
    assert lc.verify(None, {"Type": "local", "Config": {}}) == {"Type": "local", "Config": {}}
    assert lc.verify({}, None) == {"Type": "json-file", "Config": {}}


@pytest.mark.parametrize(
    "log_config, message",
    [
        ({"Type": "bogus"}, 'error looking up logging plugin bogus: plugin "bogus" not found'),
        ({"Type": "gelf"}, FAIL + "shim does not support the gelf log driver (it has json-file, local and none)"),
        ({"Config": {"max-size": "banana"}}, FAIL + "invalid size: 'banana'"),
        ({"Config": {"max-size": "0"}}, FAIL + "max-size must be a positive number"),
        ({"Config": {"max-file": "0"}}, FAIL + "max-file cannot be less than 1"),
        ({"Config": {"max-file": "x"}}, FAIL + 'strconv.Atoi: parsing "x": invalid syntax'),
        ({"Config": {"compress": "yes"}}, FAIL + 'strconv.ParseBool: parsing "yes": invalid syntax'),
        (
            {"Config": {"compress": "true", "max-size": "1m"}},
            FAIL + "compress cannot be true when max-file is less than 2 or max-size is not set",
        ),
        ({"Config": {"syslog-address": "x"}}, "unknown log opt 'syslog-address' for json-file log driver"),
        ({"Type": "local", "Config": {"labels": "a"}}, "unknown log opt 'labels' for log driver local"),
        ({"Type": "local", "Config": {"max-size": "x"}}, FAIL + "invalid value for max-size: x: invalid size: 'x'"),
        (
            {"Type": "local", "Config": {"max-file": "1"}},
            FAIL + "compression cannot be enabled when max file count is 1",
        ),
        ({"Config": {"mode": "fast"}}, "logger: logging mode not supported: fast"),
        (
            {"Config": {"max-buffer-size": "1m"}},
            "logger: max-buffer-size option is only supported with 'mode=non-blocking'",
        ),
        ({"Config": {"labels-regex": "("}}, FAIL + "error parsing regexp"),
        (
            {"Config": {"tag": "{{.Nope}}"}},
            FAIL
            + 'template: log-tag:1:2: executing "log-tag" at <.Nope>: can\'t evaluate field Nope in type *logger.Info',
        ),
    ],
)
def test_refusals_in_dockerds_words(log_config, message):
    with pytest.raises(InvalidParameter) as e:
        lc.verify(log_config)
    assert e.value.message.startswith(message) and e.value.status == 400


def test_accepted_options():
    ok = {"max-size": "10k", "max-file": "3", "compress": "true", "labels": "a", "env": "B", "tag": "{{.Name}}"}
    assert lc.verify({"Config": ok})["Config"] == ok
    assert lc.verify({"Type": "none", "Config": {"max-size": "x"}})["Type"] == "none"  # none checks nothing
    assert lc.verify({"Config": {"mode": "non-blocking", "max-buffer-size": "4m"}})["Type"] == "json-file"


@pytest.mark.parametrize(
    "log_config, policy",
    [
        ({"Type": "json-file", "Config": {}}, LogPolicy("json-file", 0, 1, False)),
        (
            {"Type": "json-file", "Config": {"max-size": "10k", "max-file": "3"}},
            LogPolicy("json-file", 10_000, 3, False),
        ),
        ({"Type": "local", "Config": {}}, LogPolicy("local", 20 * 1024 * 1024, 5, True)),
        ({"Type": "local", "Config": {"max-size": "1m", "compress": "false"}}, LogPolicy("local", 1_000_000, 5, False)),
        ({"Type": "none", "Config": {}}, LogPolicy("none", 0, 1, False)),
    ],
)
def test_policy(log_config, policy):
    assert lc.policy(log_config) == policy


def test_attributes_and_details_prefix():
    log_config = {"Config": {"labels": "team,missing", "env": "STAGE", "env-regex": "^X_", "tag": "{{.Name}}/{{.ID}}"}}
    attrs = lc.attributes(
        log_config,
        {"team": "a b", "other": "x"},
        ["STAGE=test", "X_ONE=1", "NOEQ"],
        {"Name": "web", "ID": "0123456789ab"},
    )
    assert attrs == {"team": "a b", "STAGE": "test", "X_ONE": "1", "tag": "web/0123456789ab"}
    assert lc.details_prefix(attrs) == b"STAGE=test,X_ONE=1,tag=web%2F0123456789ab,team=a+b"
    assert lc.details_prefix({}) == b""


def test_daemon_log_flags_and_file(tmp_path):
    f = tmp_path / "daemon.json"
    f.write_text(json.dumps({"log-driver": "local", "log-opts": {"max-file": "2"}}))
    s = config.load(["--config-file", str(f)])
    assert (s.log_driver, s.log_opts) == ("local", {"max-file": "2"})
    f.write_text("{}")
    s = config.load(["--config-file", str(f), "--log-opt", "max-size=1m", "--log-opt", "max-file=2"])
    assert (s.log_driver, s.log_opts) == ("json-file", {"max-size": "1m", "max-file": "2"})


def test_daemon_bad_log_defaults(tmp_path):
    f = tmp_path / "daemon.json"
    f.write_text("{}")
    with pytest.raises(
        config.ConfigError, match=r"^failed to set log opts: unknown log opt 'x' for json-file log driver$"
    ):
        config.load(["--config-file", str(f), "--log-opt", "x=1"])
    f.write_text(json.dumps({"log-opts": {"max-file": 3}}))
    with pytest.raises(config.ConfigError, match=r"cannot unmarshal .* of type map\[string\]string"):
        config.load(["--config-file", str(f)])
    with pytest.raises(SystemExit):
        config.load(["--config-file", str(f), "--log-opt", "novalue"])
