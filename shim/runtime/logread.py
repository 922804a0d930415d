"""Runtime adapter: reading a container's log (every kept generation, in order) as `docker logs` asks.

The files are read in 2 MiB blocks and rendered in bulk by k8slog (off the event loop, one thread
hop per block): no per-line objects. `--tail` scans back from the end of the newest file counting
newlines (json-file's getTailReader does the same), `--since` skips whole older files by their
mtime (no entry in a file is newer than its last write), `--until` ends the read at the first
newer entry. With `follow` the reader sleeps on inotify (the writer's IN_MODIFY, conmon's
rotation, the exit file) instead of polling, and crosses rotations by inode: it drains the file
it holds before moving to the next generation, so a rotation loses nothing.
"""

from __future__ import annotations

import asyncio
import gzip
import os
from collections.abc import AsyncIterator, Callable

from shim.engine.ports import LogChunk, LogQuery
from shim.runtime import inotify, k8slog
from shim.runtime.logfiles import Gen, Layout

BLOCK = 2 << 20
_FOLLOW_MASK = inotify.IN_MODIFY | inotify.IN_MOVED_TO | inotify.IN_CREATE | inotify.IN_CLOSE_WRITE


class _Cursor:
    """Position in a container's generations (blocking methods: run them in a thread)."""

    def __init__(self, layout: Layout, cid: str, gens: list[Gen], index: int, offset: int) -> None:
        self.layout, self.cid = layout, cid
        self.gens, self.index, self.pos = gens, index, offset
        self._fd = -1
        self._mem: bytes | None = None  # a decompressed generation
        self._rest = b""
        self.ino = 0
        self.seq: int | None = None

    def _open(self) -> bool:
        if self._fd >= 0 or self._mem is not None:
            return True
        if self.index >= len(self.gens):
            return False
        g = self.gens[self.index]
        try:
            if g.gz:
                with open(g.path, "rb") as f:
                    self._mem = gzip.decompress(f.read())
            else:
                self._fd = os.open(g.path, os.O_RDONLY | os.O_CLOEXEC)
        except (OSError, EOFError, gzip.BadGzipFile):
            self._mem = b""  # pruned meanwhile (or damaged): nothing more in it
        self.ino, self.seq = g.ino, g.seq
        return True

    def _next_file(self) -> None:
        self.close()
        self.index += 1
        self.pos, self._rest = 0, b""

    def _read(self) -> bytes:
        if self._mem is not None:
            data = self._mem[self.pos : self.pos + BLOCK]
        else:
            if os.fstat(self._fd).st_size < self.pos:
                self.pos, self._rest = 0, b""  # truncated under us (`truncate -s 0 LogPath`)
            data = os.pread(self._fd, BLOCK, self.pos)
        self.pos += len(data)
        return data

    def step(self, r: k8slog.Render) -> tuple[list[tuple[int, bytes]], bool, bool]:
        """One block: (chunks, more to read now, ended by --until)."""
        while self._open():
            data = self._read()
            if not data:
                if self.index < len(self.gens) - 1:
                    self._next_file()
                    continue
                return [], False, False
            data = self._rest + data
            cut = data.rfind(b"\n") + 1
            self._rest = data[cut:]
            sink = k8slog.Sink()
            going = k8slog.render(data[:cut], r, sink)
            return sink.take(), going, not going
        return [], False, False

    def rotated(self) -> bool:
        """Whether conmon moved on from the file we are at the end of (checked before a last read)."""
        try:
            return os.stat(self.layout.current(self.cid)).st_ino != self.ino
        except OSError:
            return False

    def advance(self) -> bool:
        """After a rotation: the generations after ours (by inode, else by number). False while the
        new file has no generation name yet."""
        gens = self.layout.generations(self.cid)
        after: list[Gen] | None = None
        for i, g in enumerate(gens):
            if g.ino == self.ino and not g.gz:
                after = gens[i + 1 :]
        if after is None:
            after = [g for g in gens if g.seq is not None and self.seq is not None and g.seq > self.seq]
            if not after or self.seq is None:
                after = [g for g in gens if g.current and g.ino != self.ino]
        if not after:
            return False
        self.close()
        self.gens, self.index, self.pos, self._rest = after, 0, 0, b""
        return True

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._mem = -1, None


def _start(gens: list[Gen], q: LogQuery) -> tuple[int, int]:
    """Blocking: the (generation, offset) to read from."""
    if q.tail is not None:
        return _tail_start(gens, q.tail)
    if q.since:
        for i, g in enumerate(gens):
            if g.current or g.mtime_ns >= q.since:
                return i, 0
        return len(gens), 0
    return 0, 0


def _tail_start(gens: list[Gen], lines: int) -> tuple[int, int]:
    want = lines
    if want <= 0:
        last = gens[-1] if gens else None
        return (len(gens) - 1, _complete_size(last)) if last is not None else (0, 0)
    for i in range(len(gens) - 1, -1, -1):
        g = gens[i]
        try:
            if g.gz:
                with open(g.path, "rb") as f:
                    off, want = k8slog.tail_offset(gzip.decompress(f.read()), want)
            else:
                off, want = _tail_in_file(g.path, want)
        except (OSError, EOFError, gzip.BadGzipFile):
            continue
        if want == 0:
            return i, off
    return 0, 0


def _tail_in_file(path: str, want: int) -> tuple[int, int]:
    """(offset of the first of the last `want` lines, lines still wanted before this file)."""
    with open(path, "rb") as f:
        hi = f.seek(0, os.SEEK_END)
        # the last complete line ends the file (a line being written does not count)
        tailblk = os.pread(f.fileno(), min(hi, BLOCK), max(0, hi - BLOCK))
        hi = max(0, hi - BLOCK) + tailblk.rfind(b"\n") + 1 if b"\n" in tailblk else max(0, hi - BLOCK)
        need = want + 1  # the newline ending the line before the first one we keep
        while hi > 0:
            lo = max(0, hi - BLOCK)
            blk = os.pread(f.fileno(), hi - lo, lo)
            have = blk.count(b"\n")
            if have >= need:
                p = len(blk)
                for _ in range(need):
                    p = blk.rfind(b"\n", 0, p)
                return lo + p + 1, 0
            need -= have
            hi = lo
        return 0, need - 1


def _complete_size(g: Gen) -> int:
    if g.gz:
        return 0
    try:
        with open(g.path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            blk = os.pread(f.fileno(), min(size, BLOCK), max(0, size - BLOCK))
            return max(0, size - BLOCK) + blk.rfind(b"\n") + 1 if b"\n" in blk else 0
    except OSError:
        return 0


class _Wake:
    """Woken by the writer (IN_MODIFY), a rotation, a new generation name, or an exit file."""

    def __init__(self, paths: list[str]) -> None:
        self._ino = inotify.Inotify(blocking=False)
        for p in paths:
            try:
                self._ino.add(p, _FOLLOW_MASK)
            except OSError:
                pass
        self._event = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._ino.fd, self._on_ready)

    def _on_ready(self) -> None:
        try:
            self._ino.read()
        except OSError:
            pass
        self._event.set()

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            pass
        self._event.clear()

    def close(self) -> None:
        self._loop.remove_reader(self._ino.fd)
        self._ino.close()


async def read(
    layout: Layout, cid: str, q: LogQuery, exit_dir: str, exited: Callable[[], bool]
) -> AsyncIterator[LogChunk]:
    """The container's log as `q` asks; with q.follow until `exited()` says the writer is gone."""
    r = k8slog.Render(q.stdout, q.stderr, q.since, q.until, q.timestamps, q.details)
    wake = _Wake([layout.dir(cid), layout.gens_dir(cid), exit_dir]) if q.follow else None
    try:
        gens = await asyncio.to_thread(layout.generations, cid)
        index, offset = await asyncio.to_thread(_start, gens, q)
        cur = _Cursor(layout, cid, gens, index, offset)
        try:
            async for chunk in _follow(cur, r, wake, exited):
                yield chunk
        finally:
            cur.close()
    finally:
        if wake is not None:
            wake.close()


async def _follow(
    cur: _Cursor, r: k8slog.Render, wake: _Wake | None, exited: Callable[[], bool]
) -> AsyncIterator[LogChunk]:
    drained = closing = False
    while True:
        chunks, more, ended = await asyncio.to_thread(cur.step, r)
        for stream, data in chunks:
            yield LogChunk(stream, data)
        if ended:
            return
        if more:
            continue
        if wake is None:
            return
        if drained:  # the rotated file is read to its end: on to the next one
            if await asyncio.to_thread(cur.advance):
                drained = False
                continue
            await wake.wait(0.1)  # the keeper has not named the new file yet
            continue
        state = await asyncio.to_thread(_at_end, cur, exited)
        if state == "rotated":
            drained = True  # conmon closed our file before renaming the next one in: one more read
        elif state == "exited":
            if closing:
                return
            closing = True  # the writer was gone before this: one more read drains it
        else:
            await wake.wait(1.0)


def _at_end(cur: _Cursor, exited: Callable[[], bool]) -> str:
    """At the end of the newest file: 'rotated' (conmon moved on), 'exited' or 'idle'. These are
    checked before the read that follows, so whatever was written before them is read."""
    if cur.rotated():
        return "rotated"
    return "exited" if exited() else "idle"
