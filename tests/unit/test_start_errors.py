"""errors.py's start failures: translateContainerdStartErr's kinds and exit codes, as typed fields."""

from __future__ import annotations

import pytest

from shim.engine.containers import ContainerService
from shim.engine.events import Events
from shim.engine.model import CreateSpec
from shim.engine.store import Store
from shim.errors import (
    Conflict,
    InvalidParameter,
    StartFailed,
    StartRefused,
    StartSystemFailure,
    SystemFailure,
    runtime_start_failed,
    start_step_failed,
)
from tests.fakes import FakeImages, FakeRuntime

PREFIX = "failed to create task for container: failed to create shim task: OCI runtime create failed: "


@pytest.mark.parametrize(
    "text,kind,code",
    [
        ('exec: "nosuchcmd": executable file not found in $PATH', StartRefused, 127),
        ('exec: "/bin/nope": stat /bin/nope: no such file or directory', StartRefused, 127),
        # a missing file that is not the command: still the container's fault, but not 127
        ("open /proc/sys/net/x: no such file or directory", StartRefused, 128),
        ('exec: "/etc/passwd": permission denied', StartRefused, 126),
        ('exec: "/tmp": is a directory', StartRefused, 128),
        ("unable to apply cgroup configuration: boom", StartSystemFailure, 128),
    ],
)
def test_runtime_start_failed(text, kind, code):
    cmd = text.split('"')[1] if '"' in text else "/bin/app"
    err = runtime_start_failed(PREFIX + text, cmd)
    assert type(err) is kind and err.exit_code == code and err.message == PREFIX + text
    assert isinstance(err, InvalidParameter if kind is StartRefused else SystemFailure)
    assert err.status == (400 if kind is StartRefused else 500)


def test_start_step_failed_keeps_other_kinds():
    other = Conflict("network x is being removed")
    assert start_step_failed(other, "sh") is other
    mount = SystemFailure("error while mounting volume '/v': mount /nope:/v: no such file or directory")
    typed = start_step_failed(mount, "sh")
    assert isinstance(typed, StartRefused) and typed.exit_code == 128 and typed.message == mount.message
    crash = start_step_failed(OSError("disk on fire"), "sh")
    assert isinstance(crash, StartSystemFailure) and crash.message == "disk on fire"
    already = StartSystemFailure("x", exit_code=128)
    assert start_step_failed(already, "sh") is already


async def test_engine_records_the_typed_exit_code(tmp_path):
    rt = FakeRuntime()
    svc = ContainerService(store=Store(tmp_path), events=Events(), images=FakeImages(), runtime=rt)
    c, _ = await svc.create(CreateSpec(name="xx", config={"Image": "busybox"}, host_config={}, networking_config={}))
    # a code the message would not give: the engine takes the field, not the text
    rt.fail_next_start = StartRefused("the runtime says so", exit_code=126)
    with pytest.raises(StartFailed) as got:
        await svc.start("xx")
    assert got.value.status == 400
    assert (c.state.exit_code, c.state.error, c.state.status) == (126, "the runtime says so", "created")
