"""Unit: the runtime adapter's pure parts (conmon errors, ps output, users in a rootfs)."""

from __future__ import annotations

import asyncio
import os

import pytest

from shim.errors import InvalidParameter, SystemFailure
from shim.runtime import cgroups, overlay
from shim.runtime.conmon import read_sync_message, runc_error_text


def test_runc_error_text():
    raw = (
        'time="2026-11-28T20:25:01Z" level=error msg="runc create failed: unable to start container '
        'process: exec: \\"nosuchcmd\\": executable file not found in $PATH"\n'
    )
    assert runc_error_text(raw) == (
        'runc create failed: unable to start container process: exec: "nosuchcmd": executable file not found in $PATH'
    )
    assert runc_error_text("plain failure\n") == "plain failure"


PS = """UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 20:00 ?        00:00:01 /sbin/init
root         100       1  0 20:01 ?        00:00:00 sleep 1000 --long arg
root         101     100  0 20:01 ?        00:00:00 sh -c x
"""


def test_parse_ps_output():
    titles, procs = cgroups.parse_ps_output(PS, [100, 101])
    assert titles == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert procs == [
        ["root", "100", "1", "0", "20:01", "?", "00:00:00", "sleep 1000 --long arg"],
        ["root", "101", "100", "0", "20:01", "?", "00:00:00", "sh -c x"],
    ]


def test_parse_ps_output_needs_pid():
    with pytest.raises(InvalidParameter, match="Couldn't find PID field in ps output"):
        cgroups.parse_ps_output("USER COMMAND\nroot x\n", [1])


def test_validate_ps_args():
    cgroups.validate_ps_args("-ef")
    cgroups.validate_ps_args("-o pid=PID,comm")
    with pytest.raises(InvalidParameter, match='specifying "user=PID" is not allowed'):
        cgroups.validate_ps_args("-o user=PID")


@pytest.fixture
def rootfs(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1001::/home/user:/bin/sh\n")
    (tmp_path / "etc/group").write_text("root:x:0:\nwheel:x:10:user,other\nstaff:x:50:\nuser:x:1001:\n")
    return str(tmp_path)


@pytest.mark.parametrize(
    "spec, group_add, expected",
    [
        ("", None, (0, 0, [])),
        ("root", None, (0, 0, [])),
        ("user", None, (1000, 1001, [10])),
        ("1000", None, (1000, 1001, [10])),
        ("4242", None, (4242, 0, [])),  # a uid without a passwd entry is fine
        ("1000:1000", None, (1000, 1000, [])),
        ("user:staff", None, (1000, 50, [])),
        ("user", ["staff", "77"], (1000, 1001, [10, 50, 77])),
    ],
)
def test_resolve_user(rootfs, spec, group_add, expected):
    u = overlay.resolve_user(rootfs, spec, group_add)
    assert (u.uid, u.gid, u.additional_gids) == expected


@pytest.mark.parametrize(
    "spec, message",
    [
        ("nosuch", "unable to find user nosuch: no matching entries in passwd file"),
        ("user:nogroup", "unable to find group nogroup: no matching entries in group file"),
    ],
)
def test_resolve_user_errors(rootfs, spec, message):
    with pytest.raises(InvalidParameter, match=message):
        overlay.resolve_user(rootfs, spec)


def test_resolve_user_without_passwd(tmp_path):
    assert overlay.resolve_user(str(tmp_path), "1000:1000").uid == 1000
    with pytest.raises(InvalidParameter, match="unable to find user app"):
        overlay.resolve_user(str(tmp_path), "app")


def test_secure_join_stays_inside(tmp_path):
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    os.symlink("/etc", root / "a/abs")
    os.symlink("../../../..", root / "a/up")
    assert overlay.secure_join(str(root), "/a/abs/passwd") == str(root / "etc/passwd")
    assert overlay.secure_join(str(root), "/a/up/x") == str(root / "x")
    assert overlay.secure_join(str(root), "/../../x") == str(root / "x")


def test_setup_working_dir(tmp_path):
    overlay.setup_working_dir(str(tmp_path), "/new/dir")
    assert (tmp_path / "new/dir").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemFailure, match="Cannot mkdir: /file/sub is not a directory"):
        overlay.setup_working_dir(str(tmp_path), "/file/sub")
    with pytest.raises(SystemFailure, match="Cannot mkdir: /file is not a directory"):
        overlay.setup_working_dir(str(tmp_path), "/file")


async def test_read_sync_message_from_the_event_loop():
    r, w = os.pipe()
    try:
        os.write(w, b'{"data": ')
        asyncio.get_running_loop().call_later(0.01, os.write, w, b'4242}\n{"ignored": 1}\n')
        assert await read_sync_message(r, timeout=5) == {"data": 4242}
    finally:
        os.close(r)
        os.close(w)


async def test_read_sync_message_conmon_gone_or_silent():
    r, w = os.pipe()
    os.close(w)  # conmon died without a word
    try:
        msg = await read_sync_message(r, timeout=5)
        assert msg["data"] == -1 and "without reporting" in msg["message"]
    finally:
        os.close(r)
    r, w = os.pipe()
    try:
        with pytest.raises(TimeoutError, match="timed out waiting for conmon"):
            await read_sync_message(r, timeout=0.05)
    finally:
        os.close(r)
        os.close(w)
