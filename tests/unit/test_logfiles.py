"""Unit: a container's log files in a temp dir: the generations listing, reads across kept, compressed
and rotating files (tail, since, follow), shimd's prepare/compression, and conmon_keep.c itself
(preloaded into a small Python process that renames the way conmon rotates)."""

from __future__ import annotations

import asyncio
import gzip
import os
import subprocess
import sys

import pytest

from shim.engine.ports import LogPolicy, LogQuery
from shim.runtime import logfiles, logread
from shim.runtime.logfiles import Keeper, Layout

CID = "c" * 64


def k8s(first: int, last: int, ns: int = 1) -> bytes:
    return b"".join(f"2026-12-05T01:09:21.{ns:09d}+00:00 stdout F line-{i}\n".encode() for i in range(first, last + 1))


@pytest.fixture
def lay(tmp_path):
    layout = Layout(str(tmp_path))
    os.makedirs(layout.gens_dir(CID))
    return layout


def write_gens(lay: Layout, *parts: bytes, gz: tuple[int, ...] = ()) -> None:
    *kept, current = parts
    for seq, data in enumerate(kept, start=1):
        path = os.path.join(lay.gens_dir(CID), f"{seq:010d}")
        if seq in gz:
            with open(path + ".gz", "wb") as f:
                f.write(gzip.compress(data))
        else:
            with open(path, "wb") as f:
                f.write(data)
    with open(lay.current(CID), "wb") as f:
        f.write(current)


async def read_all(lay: Layout, q: LogQuery, exited=lambda: True) -> bytes:
    return b"".join([c.data async for c in logread.read(lay, CID, q, lay.dir(CID), exited)])


def numbers(data: bytes) -> list[int]:
    return [int(x.split(b"-")[1]) for x in data.splitlines()]


async def test_generations_in_order_plain_before_gz(lay):
    write_gens(lay, k8s(1, 2), k8s(3, 4), k8s(5, 6), gz=(1,))
    # a file being compressed: both forms exist for a moment; the plain one is listed
    with open(os.path.join(lay.gens_dir(CID), "0000000002.gz"), "wb") as f:
        f.write(gzip.compress(k8s(3, 4)))
    gens = lay.generations(CID)
    assert [(g.seq, g.gz, g.current) for g in gens] == [(1, True, False), (2, False, False), (None, False, True)]
    assert numbers(await read_all(lay, LogQuery())) == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("n, want", [(0, []), (1, [6]), (3, [4, 5, 6]), (5, [2, 3, 4, 5, 6]), (99, [1, 2, 3, 4, 5, 6])])
async def test_tail_across_files(lay, n, want):
    write_gens(lay, k8s(1, 2), k8s(3, 4), k8s(5, 6) + b"2026-12-05T01:09:21.1+00:00 stdout F torn", gz=(1,))
    assert numbers(await read_all(lay, LogQuery(tail=n))) == want


async def test_since_skips_older_files_by_mtime(lay):
    write_gens(lay, k8s(1, 2, ns=1), k8s(3, 4, ns=2), k8s(5, 6, ns=3))
    first = os.path.join(lay.gens_dir(CID), "0000000001")
    os.utime(first, ns=(1, 1))  # written long ago: not even opened
    os.chmod(first, 0)
    since = 1796087361 * 10**9 + 2  # 2026-12-05T01:09:21.000000002Z
    assert numbers(await read_all(lay, LogQuery(since=since))) == [3, 4, 5, 6]


async def test_follow_crosses_a_rotation_and_ends_at_exit(lay):
    write_gens(lay, k8s(1, 3))
    gone = False
    got: list[int] = []

    async def follow():
        async for c in logread.read(lay, CID, LogQuery(follow=True), lay.dir(CID), lambda: gone):
            got.extend(numbers(c.data))

    task = asyncio.ensure_future(follow())
    while got != [1, 2, 3]:
        await asyncio.sleep(0.01)
    # what conmon does, with conmon_keep's link first: more lines, rotation, more lines
    with open(lay.current(CID), "ab") as f:
        f.write(k8s(4, 5))
    os.link(lay.current(CID), os.path.join(lay.gens_dir(CID), "0000000001"))
    with open(lay.current(CID) + ".tmp", "wb") as f:
        f.write(k8s(6, 7))
    os.rename(lay.current(CID) + ".tmp", lay.current(CID))
    while got != [1, 2, 3, 4, 5, 6, 7]:
        await asyncio.sleep(0.01)
    with open(lay.current(CID), "ab") as f:
        f.write(k8s(8, 8))
    gone = True
    await asyncio.wait_for(task, 10)
    assert got == list(range(1, 9))


def test_prepare_moves_the_previous_file_and_prunes(lay):
    write_gens(lay, k8s(1, 1), k8s(2, 2), k8s(3, 3))
    keeper = Keeper(lay)
    try:
        keeper.prepare(CID, LogPolicy("json-file", 10_000, 3, False))
        names = sorted(os.listdir(lay.gens_dir(CID)))
        assert names == ["0000000002", "0000000003"] and not os.path.exists(lay.current(CID))
        assert lay.policy(CID) == LogPolicy("json-file", 10_000, 3, False)
        env = keeper.conmon_env(CID, LogPolicy("json-file", 10_000, 3, False))
        assert env["SHIM_LOG_KEEP"] == "3" and env["LD_PRELOAD"].endswith(".so")
        assert keeper.conmon_env(CID, LogPolicy("json-file", 10_000, 1, False)) == {}
    finally:
        keeper.close()


def test_prepare_saves_no_policy_when_there_is_nothing_to_keep(lay):
    """A policy that keeps nothing (the default json-file) leaves no file, which resume() reads as
    nothing to do, as it does that policy; one that keeps files is saved and replaced."""
    keeper = Keeper(lay)
    try:
        keeper.prepare(CID, LogPolicy("json-file", 10_000, 3, True))
        assert lay.policy(CID) == LogPolicy("json-file", 10_000, 3, True)
        for nothing in (LogPolicy("json-file", 0, 1, False), LogPolicy("json-file", 10_000, 1, True)):
            keeper.prepare(CID, nothing)
            assert lay.policy(CID) is None and not logfiles.keeping(nothing)
            keeper.resume(CID)
            assert CID not in keeper._wds
        keeper.prepare(CID, LogPolicy("local", 10_000, 2, True))
        keeper.resume(CID)
        assert lay.policy(CID) == LogPolicy("local", 10_000, 2, True) and CID in keeper._wds
    finally:
        keeper.close()


def test_compression_keeps_mode_and_mtime(lay):
    write_gens(lay, k8s(1, 2), k8s(3, 4))
    path = os.path.join(lay.gens_dir(CID), "0000000001")
    os.chmod(path, 0o600)
    os.utime(path, ns=(5 * 10**9, 7 * 10**9))
    logfiles._compress_all(lay.gens_dir(CID))
    st = os.stat(path + ".gz")
    assert not os.path.exists(path) and st.st_mode & 0o777 == 0o600 and st.st_mtime_ns == 7 * 10**9
    with gzip.open(path + ".gz") as f:
        assert f.read() == k8s(1, 2)


_ROTATE = """
import os, sys
path = sys.argv[1]
for n in range(int(sys.argv[2])):
    with open(path + ".tmp", "w") as f:  # conmon's reopen_k8s_file: O_TRUNC|O_CREAT, then rename
        f.write(f"file {n}\\n")
    os.rename(path + ".tmp", path)
os.rename(path, path + ".other")  # any other rename is left alone
print(os.environ.get("LD_PRELOAD", "-"), os.environ.get("SHIM_LOG_KEEP", "-"))
"""


@pytest.mark.skipif(logfiles.preload_library() is None, reason="conmon_keep is not built (pip install -e .)")
def test_conmon_keep_links_and_prunes_at_the_rename(lay):
    keeper = Keeper(lay)
    env = {**os.environ, **keeper.conmon_env(CID, LogPolicy("json-file", 10, 3, False))}
    keeper.close()
    with open(lay.current(CID), "w") as f:
        f.write("first\n")
    p = subprocess.run([sys.executable, "-c", _ROTATE, lay.current(CID), "4"], env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["-", "-"]  # removed from the environment: children never see it
    gdir = lay.gens_dir(CID)
    assert sorted(os.listdir(gdir)) == ["0000000003", "0000000004"]  # max-file 3: two kept beside the current
    assert [open(os.path.join(gdir, n)).read() for n in sorted(os.listdir(gdir))] == ["file 1\n", "file 2\n"]
    assert open(lay.current(CID) + ".other").read() == "file 3\n"
