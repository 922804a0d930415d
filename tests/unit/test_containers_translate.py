"""translate/containers.py and translate/filters.py: presenters, status text, filters, config rules."""

import pytest

from shim.engine import containerconfig as cc
from shim.engine import validation
from shim.engine.model import Container, ContainerState, Health
from shim.errors import InvalidParameter
from shim.translate import containers as tr
from shim.translate import filters as tf
from shim.translate.versions import Version

NS = 1_000_000_000


def make(**state):
    return Container(
        id="a" * 64,
        name="web",
        created=100 * NS,
        path="sleep",
        args=["300"],
        config=cc.normalize_config({"Image": "busybox", "Labels": {"rec": "1"}}),
        host_config=cc.adapt_host_config(cc.normalize_host_config({})),
        networking_config={},
        image_id="sha256:" + "b" * 64,
        state=ContainerState(**state),
    )


@pytest.mark.parametrize(
    "secs,text",
    [
        (0.5, "Less than a second"),
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "About a minute"),
        (180, "3 minutes"),
        (3600, "About an hour"),
        (7200, "2 hours"),
        (3 * 86400, "3 days"),
    ],
)
def test_human_duration(secs, text):
    assert tr.human_duration(secs) == text


def test_status_text():
    now = 1000 * NS
    assert tr.status_text(make(), now) == "Created"
    assert tr.status_text(make(running=True, started_at=now - 180 * NS), now) == "Up 3 minutes"
    assert tr.status_text(make(running=True, paused=True, started_at=now - 2 * NS), now) == "Up 2 seconds (Paused)"
    assert tr.status_text(make(started_at=1, finished_at=now - 2 * NS, exit_code=3), now) == "Exited (3) 2 seconds ago"
    c = make(running=True, started_at=now, health=Health(status="starting"))
    assert tr.status_text(c, now) == "Up Less than a second (health: starting)"


HOUR = 3600 * NS


@pytest.mark.parametrize(
    "elapsed",
    [
        -5 * NS,
        0,
        NS // 2,
        NS - 1,
        NS,
        59 * NS + 999_999_000,
        60 * NS,
        119 * NS,
        120 * NS + 1,
        3599 * NS,
        3600 * NS,
        5399 * NS,
        5400 * NS,
        47 * HOUR + 1800 * NS - 1,
        48 * HOUR,
        14 * 24 * HOUR - 1,
        60 * 24 * HOUR,
        2 * 365 * 24 * HOUR - 1,
        2 * 365 * 24 * HOUR + 7 * NS,
        30 * 365 * 24 * HOUR + 123,
    ],
)
def test_duration_until_is_before_the_next_change_of_the_text(elapsed):
    """The list keeps a row's Status until duration_until: the text is the same all that time,
    and the wait is at most one unit of what it shows (a second, a minute, half an hour)."""
    since = 1_700_000_000 * NS
    now = since + elapsed
    until = tr.duration_until(since, now)
    text = tr.human_duration(elapsed / 1e9)
    if elapsed < 0:  # the clock went back: "Less than a second" until a second after `since`
        assert until == since + NS - 1000 and text == "Less than a second"
    else:
        assert until - now <= (NS if elapsed < 60 * NS else 60 * NS if elapsed < HOUR else 1800 * NS)
    # in the microsecond before a boundary `until` is already past: the text is made per request
    assert until > now or now - until < 1000
    for k in range(101 if until > now else 0):
        t = now + (until - 1 - now) * k // 100
        assert tr.human_duration((t - since) / 1e9) == text, (t - since) / 1e9


def test_status_until():
    now = 1000 * NS
    assert tr.status_until(make(), now) == ("Created", tr.FOREVER)
    up = make(running=True, started_at=now - 90 * NS)
    assert tr.status_until(up, now) == ("Up About a minute", now + 30 * NS - 1000)
    text, until = tr.status_until(make(started_at=1, finished_at=now - 2 * NS, exit_code=3), now)
    assert text == "Exited (3) 2 seconds ago" and until == now + NS - 1000
    c = make(running=True, restarting=True, started_at=1, finished_at=now - 5 * NS, exit_code=1)
    assert tr.status_until(c, now) == ("Restarting (1) 5 seconds ago", now + NS - 1000)


def test_rfc3339nano():
    assert tr.rfc3339nano(0) == "0001-01-01T00:00:00Z"
    assert tr.rfc3339nano(1795886212769391443) == "2026-11-28T17:16:52.769391443Z"
    assert tr.rfc3339nano(1795886212500000000) == "2026-11-28T17:16:52.5Z"


def test_inspect_versions():
    c = make()
    new = tr.inspect_out(c, Version(1, 41))
    assert new["State"]["FinishedAt"] == "0001-01-01T00:00:00Z" and new["Name"] == "/web"
    assert new["HostConfig"]["IpcMode"] == "private" and new["HostConfig"]["LogConfig"]["Type"] == "json-file"
    assert "Networks" in new["NetworkSettings"]
    old = tr.inspect_out(c, Version(1, 19))
    assert "Volumes" in old and "Mounts" not in old and "Status" not in old["State"]


def test_list_item():
    item = tr.list_item_out(make(), Version(1, 41))
    assert item["Names"] == ["/web"] and item["Command"] == "sleep 300" and item["Created"] == 100
    assert item["HostConfig"] == {"NetworkMode": "default"} and item["Labels"] == {"rec": "1"}


def test_ps_filters():
    c = make(started_at=1, finished_at=2, exit_code=3, status="exited")
    assert tf.matches(c, tf.ps_filter({"name": ["we"]}))
    assert not tf.matches(c, tf.ps_filter({"name": ["^/nope"]}))
    assert tf.matches(c, tf.ps_filter({"label": ["rec=1"], "exited": ["3"], "status": ["exited"]}))
    assert not tf.matches(c, tf.ps_filter({"exited": ["0"]}))
    assert tf.matches(c, tf.ps_filter({"health": ["none"]}))
    assert tf.matches(c, tf.ps_filter({"ancestor": ["busybox"]}), ancestor_ids={c.image_id})
    with pytest.raises(InvalidParameter, match="Invalid filter 'bogus'"):
        tf.ps_filter({"bogus": ["1"]})
    with pytest.raises(InvalidParameter, match="Unrecognised filter value for status: nope"):
        tf.ps_filter({"status": ["nope"]})


def test_merge_image_config():
    user = cc.normalize_config({"Image": "x", "Env": ["A=1", "PATH=/mine"]})
    cc.merge_image_config(
        user,
        {"Env": ["PATH=/img", "B=2"], "Cmd": ["sh"], "WorkingDir": "/w", "Entrypoint": ["/init"], "Labels": {"l": "v"}},
    )
    assert user["Env"] == ["A=1", "PATH=/mine", "B=2"] and user["Cmd"] == ["sh"] and user["WorkingDir"] == "/w"
    assert user["Entrypoint"] == ["/init"] and user["Labels"] == {"l": "v"}
    assert cc.command(user) == ("/init", ["sh"])
    user = cc.normalize_config({"Image": "x", "Entrypoint": ["/e"]})
    cc.merge_image_config(user, {"Cmd": ["sh"]})
    assert user["Cmd"] is None and cc.command(user) == ("/e", [])  # a user entrypoint drops the image Cmd
    with pytest.raises(InvalidParameter, match="No command specified"):
        cc.command(cc.normalize_config({"Image": "x"}))


def test_verify_settings_messages():
    for hc, msg in [
        ({"Memory": 1}, "Minimum memory limit allowed is 6MB"),
        ({"Memory": 8 << 20, "MemorySwap": 7 << 20}, "Minimum memoryswap limit should be larger"),
        ({"RestartPolicy": {"Name": "sometimes"}}, "invalid restart policy 'sometimes'"),
        (
            {"RestartPolicy": {"Name": "always", "MaximumRetryCount": 2}},
            "maximum retry count cannot be used with restart policy 'always'",
        ),
        ({"CpuQuota": 10}, "CPU cfs quota can not be less than 1ms"),
    ]:
        with pytest.raises(InvalidParameter, match=msg):
            validation.container_create({}, cc.normalize_host_config(hc), validation.HostLimits())
    with pytest.raises(InvalidParameter, match="the working directory 'rel' is invalid"):
        validation.container_create({"WorkingDir": "rel"}, {}, validation.HostLimits())


def test_detach_keys():
    assert tr.detach_keys_in(None) == b"\x10\x11"
    assert tr.detach_keys_in("ctrl-a,x") == b"\x01x"
    with pytest.raises(InvalidParameter):
        tr.detach_keys_in("ctrl-aa")


def test_create_in_top_level_host_fields():
    spec = tr.create_in({"Image": "busybox", "Memory": 67108864, "Binds": ["/a:/b"]}, Version(1, 21))
    assert spec.host_config == {"Memory": 67108864, "Binds": ["/a:/b"], "AutoRemove": False}
    assert "Memory" not in spec.config
    spec = tr.create_in({"Image": "busybox", "Memory": 8 << 20, "HostConfig": {"Binds": ["/x:/y"]}}, Version(1, 41))
    assert spec.host_config == {"Binds": ["/x:/y"], "Memory": 8 << 20}
    assert (
        tr.create_in({"Image": "b", "HostConfig": {"AutoRemove": True}}, Version(1, 24)).host_config["AutoRemove"]
        is False
    )


def test_list_ports():
    ports = {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}], "53/udp": None}
    assert tr.list_ports(ports) == [
        {"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": 18080, "Type": "tcp"},
        {"PrivatePort": 53, "Type": "udp"},
    ]


def test_network_and_volume_filters():
    c = make()
    assert tf.matches(c, tf.ps_filter({"network": ["bridge"]}))
    assert tf.matches(c, tf.ps_filter({"network": ["abc"]}), networks=["mynet"], network_ids=["abcdef"])
    assert not tf.matches(c, tf.ps_filter({"network": ["other"]}), networks=["mynet"], network_ids=["abcdef"])
    assert tf.matches(c, tf.ps_filter({"volume": ["/data"]}), volumes=["vol1", "/var/lib/x", "/data"])
    assert not tf.matches(c, tf.ps_filter({"volume": ["nope"]}), volumes=["vol1"])


def test_create_in_empty_config():
    for body in ({}, {"HostConfig": {"Memory": 0}}):
        with pytest.raises(InvalidParameter, match="Config cannot be empty in order to create a container"):
            tr.create_in(body, Version(1, 41))


def test_inspect_pre_120_config_carries_resources():
    c = make()
    c.host_config["Memory"] = 8 << 20
    old = tr.inspect_out(c, Version(1, 19))
    assert old["Config"]["Memory"] == 8 << 20 and old["Config"]["VolumeDriver"] == ""
    assert "Networks" not in old["NetworkSettings"]
