"""engine/mounts.py: Binds, Mounts, Tmpfs, image VOLUMEs and VolumesFrom to mount points (pure)."""

from __future__ import annotations

import pytest

from shim.engine import mounts as m
from shim.errors import InvalidParameter


def test_named_volume_bind_syntax():
    mp = m.parse_bind("data:/data")
    assert (mp.type, mp.name, mp.destination, mp.mode, mp.rw, mp.anonymous) == (
        "volume",
        "data",
        "/data",
        "z",
        True,
        False,
    )
    assert mp.inspect() == {
        "Type": "volume",
        "Name": "data",
        "Source": "",
        "Destination": "/data",
        "Driver": "local",
        "Mode": "z",
        "RW": True,
        "Propagation": "",
    }


def test_host_bind_read_only():
    mp = m.parse_bind("/srv/x:/data:ro")
    assert (mp.type, mp.source, mp.rw, mp.mode, mp.propagation, mp.create_source) == (
        "bind",
        "/srv/x",
        False,
        "ro",
        "rprivate",
        True,
    )
    assert "Name" not in mp.inspect() and "Driver" not in mp.inspect()


def test_anonymous_and_nocopy():
    assert m.parse_bind("/data").anonymous
    assert not m.parse_bind("v:/data:nocopy").copy_data


@pytest.mark.parametrize("raw", ["/data:rw", "a:b:c:d", "v:/data:bogus", "v:relative", "v:/"])
def test_bad_bind_specs(raw):
    with pytest.raises(InvalidParameter):
        m.parse_bind(raw)


def test_mount_bind_and_errors():
    mp = m.parse_mount(
        {"Type": "bind", "Source": "/x", "Target": "/y", "ReadOnly": True, "BindOptions": {"Propagation": "rslave"}}
    )
    assert (mp.rw, mp.propagation, mp.create_source) == (False, "rslave", False)
    with pytest.raises(InvalidParameter, match="field Source must not be empty"):
        m.parse_mount({"Type": "bind", "Target": "/y"})
    with pytest.raises(InvalidParameter, match="mount type unknown"):
        m.parse_mount({"Type": "npipe", "Target": "/y"})


def test_mount_volume_options():
    mp = m.parse_mount(
        {
            "Type": "volume",
            "Source": "v",
            "Target": "/d",
            "VolumeOptions": {
                "NoCopy": True,
                "Labels": {"a": "b"},
                "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs"}},
            },
        }
    )
    assert (mp.copy_data, mp.volume_labels, mp.volume_options, mp.mode) == (False, {"a": "b"}, {"type": "tmpfs"}, "")


def test_mount_tmpfs_options():
    mp = m.parse_mount({"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1770}})
    assert mp.tmpfs_data == "size=1024k,mode=1770"
    assert m.tmpfs_options(mp) == ["noexec", "nosuid", "nodev", "size=1024k", "mode=1770"]
    assert m.tmpfs_options(m.MountPoint(type="tmpfs", destination="/t", tmpfs_data="exec,size=1m")) == [
        "nosuid",
        "nodev",
        "size=1m",
    ]


def test_plan_precedence_and_duplicates():
    cfg = {"Volumes": {"/data": {}, "/cache": {}}}
    hc = {"Binds": ["named:/data"], "Tmpfs": {"/run": "size=1m"}}
    plan = {p.destination: p for p in m.plan(cfg, hc)}
    assert plan["/data"].name == "named" and plan["/cache"].anonymous and plan["/run"].type == "tmpfs"
    with pytest.raises(InvalidParameter, match="Duplicate mount point: /a"):
        m.plan({}, {"Binds": ["x:/a", "y:/a"]})
    with pytest.raises(InvalidParameter, match="Duplicate mount point: /a"):
        m.plan({}, {"Binds": ["x:/a"], "Tmpfs": {"/a": ""}})


def test_volumes_from_modes():
    src = [
        m.MountPoint(type="volume", name="v", destination="/v", source="/s", mode="z"),
        m.MountPoint(type="bind", source="/h", destination="/b", mode="", propagation="rprivate"),
    ]
    plan = m.plan({}, {"VolumesFrom": ["other:ro"]}, lambda ref: ("cid", src))
    assert [(p.destination, p.rw) for p in plan] == [("/v", False), ("/b", False)]
    assert plan[1].mode == "ro"
    assert all(p.rw for p in m.plan({}, {"VolumesFrom": ["other"]}, lambda ref: ("cid", src)))


def test_bind_under_data_root_refused():
    mp = m.parse_bind("/var/lib/shim/volumes:/x")
    with pytest.raises(InvalidParameter, match="data root"):
        m.check_not_under(mp, ["/var/lib/shim"])
    m.check_not_under(m.parse_bind("/var/lib/shimmer:/x"), ["/var/lib/shim"])
