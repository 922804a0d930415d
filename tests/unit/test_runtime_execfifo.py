"""Unit: execfifo.start does runc start's exec.fifo handshake with a stand-in for `runc init`
(a real fifo and a real child process that does what init does with it), and leaves the fifo
to `runc start` whenever the handshake can't be done."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

from shim.runtime import execfifo

# runc init's last steps (standard_init_linux.go): open the fifo for writing (blocks until a
# reader), write "0", exec the user's process; the fifo's fd is close-on-exec
INIT = """
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CLOEXEC)
os.write(fd, b"0")
os.execv("/bin/sleep", ["sleep", "30"])
"""


def _fifo(tmp_path) -> str:
    path = os.path.join(tmp_path, execfifo.FIFO)
    os.mkfifo(path, 0o622)
    return path


def _comm(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


async def test_start_releases_init_and_removes_fifo(tmp_path):
    path = _fifo(tmp_path)
    init = subprocess.Popen([sys.executable, "-c", INIT, path])
    try:
        assert await execfifo.start(str(tmp_path), init.pid) is True
        # like runc start: returns once the process is exec'd, and the container counts as running
        assert _comm(init.pid) == "sleep"
        assert not os.path.exists(path)
    finally:
        init.kill()
        init.wait()


async def test_start_waits_for_an_init_that_is_not_there_yet(tmp_path):
    path = _fifo(tmp_path)
    init = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)\n" + INIT, path])
    try:
        assert await execfifo.start(str(tmp_path), init.pid) is True
        assert _comm(init.pid) == "sleep"
    finally:
        init.kill()
        init.wait()


async def test_an_init_slower_than_the_first_wait_is_awaited_on_the_loop(tmp_path, monkeypatch):
    # the handshake's thread gives up after FIRST_WAIT and hands the fifo to the loop (no thread
    # waits on init unbounded); the start then goes on as runc start's would
    monkeypatch.setattr(execfifo, "FIRST_WAIT", 0.01)
    path = _fifo(tmp_path)
    init = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)\n" + INIT, path])
    try:
        assert await execfifo.start(str(tmp_path), init.pid) is True
        assert _comm(init.pid) == "sleep"
        assert not os.path.exists(path)
    finally:
        init.kill()
        init.wait()


async def test_an_init_that_ends_silently_after_the_first_wait_is_left_to_runc(tmp_path, monkeypatch):
    monkeypatch.setattr(execfifo, "FIRST_WAIT", 0.01)
    path = _fifo(tmp_path)
    init = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    try:
        assert await execfifo.start(str(tmp_path), init.pid) is False
        assert os.path.exists(path)  # as runc left it, for `runc start`
    finally:
        init.kill()
        init.wait()


async def test_process_that_ends_and_is_reaped_at_once_was_started(tmp_path, monkeypatch):
    # `docker run busybox true`: once the fifo is open, init writes, execs a process that ends, and
    # conmon (its parent, a subreaper) reaps it, possibly before the start looks at init's pid again
    path = _fifo(tmp_path)
    fast = 'import os, sys\nos.write(os.open(sys.argv[1], os.O_WRONLY), b"0")\nos._exit(0)\n'
    parent = subprocess.Popen(
        ["/bin/sh", "-c", '"$0" -c "$1" "$2" >&- & echo $!; exec >&-; wait', sys.executable, fast, path],
        stdout=subprocess.PIPE,
    )
    assert parent.stdout is not None
    init_pid = int(parent.stdout.readline())
    real_open = execfifo._open

    def open_then_lose_the_race(p: str) -> int:
        fd = real_open(p)
        while os.path.exists(f"/proc/{init_pid}"):  # the slowest case: init is gone and reaped
            time.sleep(0.01)
        return fd

    monkeypatch.setattr(execfifo, "_open", open_then_lose_the_race)
    try:
        assert await asyncio.wait_for(execfifo.start(str(tmp_path), init_pid), 10) is True
        assert not os.path.exists(path)
    finally:
        parent.wait()


async def test_no_fifo_is_left_to_runc(tmp_path):
    init = subprocess.Popen(["/bin/sleep", "30"])
    try:
        assert await execfifo.start(str(tmp_path), init.pid) is False
    finally:
        init.kill()
        init.wait()


async def test_init_gone_without_a_word_is_left_to_runc(tmp_path):
    path = _fifo(tmp_path)
    init = await asyncio.create_subprocess_exec("/bin/sh", "-c", "exit 3")
    try:
        assert await asyncio.wait_for(execfifo.start(str(tmp_path), init.pid), 10) is False
        assert os.path.exists(path)  # runc start finds it as runc left it
    finally:
        await init.wait()


async def test_reaped_init_is_left_to_runc(tmp_path):
    path = _fifo(tmp_path)
    init = subprocess.Popen(["/bin/true"])
    init.wait()
    assert await asyncio.wait_for(execfifo.start(str(tmp_path), init.pid), 10) is False
    assert os.path.exists(path)
