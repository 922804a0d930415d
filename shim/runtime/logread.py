"""Runtime adapter: reading a container's log (every kept generation, in order) as `docker logs` asks.

The files are read in 2 MiB blocks and rendered in bulk by k8slog (off the event loop, one thread
hop per block): no per-line objects. `--tail` scans back from the end of the newest file counting
line ends (json-file's getTailReader counts its entries; here the partial records of a line conmon
cut are no lines of their own), `--since` skips whole older files by their mtime (no entry in a
file is newer than its last write), `--until` ends the read at the first newer entry. With
`follow` the reader sleeps on inotify (the writer's IN_MODIFY, conmon's rotation, the exit file)
instead of polling, and crosses rotations by inode: it drains the file it holds before moving to
the next generation, so a rotation loses nothing.
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
    """Position in a container's generations (blocking methods: run them in a thread). Files are
    opened when reached; moving on re-lists them, so a rotation (or a compression) meanwhile is
    followed: the next file is the one after the file just read, found by inode, else by number,
    else by mtime."""

    def __init__(
        self, layout: Layout, cid: str, gens: list[Gen], index: int, offset: int, wake: _Wake | None = None
    ) -> None:
        self.layout, self.cid, self.wake = layout, cid, wake
        self.gens, self.index, self.pos = gens, index, offset
        self._fd = -1
        self._mem: bytes | None = None  # a decompressed generation
        self._rest = b""
        self.ino = 0
        self.seq: int | None = None
        self.mtime_ns = 0

    def _open(self) -> bool:
        if self._fd >= 0 or self._mem is not None:
            return True
        if self.index >= len(self.gens):
            return False
        g = self.gens[self.index]
        if self.wake is not None and g.seq is not None:
            self.wake.drop_below(g.seq)
            fd = self.wake.take(g.seq)
            if fd >= 0:  # opened when conmon made it: readable even if pruned since
                self._fd, self.ino, self.seq = fd, os.fstat(fd).st_ino, g.seq
                return True
        try:
            if g.gz:
                self._mem = _gunzip(g.path)
            else:
                try:
                    self._fd = os.open(g.path, os.O_RDONLY | os.O_CLOEXEC)
                except FileNotFoundError:
                    if g.seq is None:
                        raise
                    self._mem = _gunzip(g.path + ".gz")  # compressed since the listing
        except (OSError, EOFError, gzip.BadGzipFile):
            self._mem = b""  # pruned meanwhile (or damaged): nothing more in it
        self.ino, self.seq = g.ino, g.seq
        if self._fd >= 0 and g.current and os.fstat(self._fd).st_ino != g.ino:
            # rotated since the listing: the file listed is a kept generation now
            os.close(self._fd)
            self._fd = -1
            gens = self.layout.generations(self.cid)
            at = next((i for i, x in enumerate(gens) if x.ino == g.ino and not x.gz), None)
            self.gens, self.index = (gens, at) if at is not None else (gens, len(gens) - 1)
            if at is None:
                self.pos = 0
            return self._open()
        return True

    def _read(self) -> bytes:
        if self._mem is not None:
            data = self._mem[self.pos : self.pos + BLOCK]
        else:
            st = os.fstat(self._fd)
            self.mtime_ns = st.st_mtime_ns
            if st.st_size < self.pos:
                self.pos, self._rest = 0, b""  # truncated under us (`truncate -s 0 LogPath`)
            data = os.pread(self._fd, BLOCK, self.pos)
        self.pos += len(data)
        return data

    def step(self, r: k8slog.Render) -> tuple[list[tuple[int, bytes]], bool, bool]:
        """One block: (chunks, more to read now, ended by --until)."""
        while self._open():
            data = self._read()
            if not data:
                if self.index < len(self.gens) - 1 and self.advance():
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
        """Whether conmon moved on from the current file we are at the end of."""
        if not self._open() or self.seq is not None:
            return False
        try:
            return os.stat(self.layout.current(self.cid)).st_ino != self.ino
        except OSError:
            return False

    def advance(self) -> bool:
        """On to the file after the one just read. False when there is none (yet)."""
        gens = self.layout.generations(self.cid)
        held = self.wake.held if self.wake is not None else {}
        mine = self.seq
        if mine is None:  # ours was the current file: its number since the rotation
            mine = next((g.seq for g in gens if g.ino == self.ino and not g.gz), None)
            if mine is None:
                mine = next((s for s, fd in held.items() if os.fstat(fd).st_ino == self.ino), None)
        listed = {g.seq for g in gens}
        kept = [g for g in gens if g.seq is not None]
        for s, fd in held.items():  # pruned since, but held open from the moment conmon made them
            if s not in listed:
                st = os.fstat(fd)
                kept.append(Gen("", s, st.st_ino, st.st_size, st.st_mtime_ns))
        if mine is not None:
            kept = [g for g in kept if g.seq is not None and g.seq > mine]
        else:  # ours was the current file, rotated and since compressed or pruned: by time
            kept = [g for g in kept if g.ino != self.ino and g.mtime_ns >= self.mtime_ns]
        kept.sort(key=lambda g: g.seq or 0)
        after = kept + [g for g in gens if g.current and g.ino != self.ino]
        if not after:
            return False
        self.close()
        self.gens, self.index, self.pos, self._rest = after, 0, 0, b""
        return True

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._mem = -1, None


def _gunzip(path: str) -> bytes:
    with open(path, "rb") as f:
        return gzip.decompress(f.read())


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
    if lines <= 0:
        last = gens[-1] if gens else None
        return (len(gens) - 1, _complete_size(last)) if last is not None else (0, 0)
    # the line end just before the first line kept: the newest one counts first
    need = lines + 1
    for i in range(len(gens) - 1, -1, -1):
        # the log's last record ends a line even if partial: it is in the newest file that has one
        # (a new container.log stays empty until the container writes again)
        g, newest = gens[i], need == lines + 1
        try:
            if g.gz:
                with open(g.path, "rb") as f:
                    off, need = k8slog.line_end_back(gzip.decompress(f.read()), need, newest=newest)
            else:
                off, need = _tail_in_file(g.path, need, newest)
        except (OSError, EOFError, gzip.BadGzipFile):
            continue
        if need == 0:
            return i, off
    return 0, 0


def _tail_in_file(path: str, need: int, newest: bool) -> tuple[int, int]:
    """(offset just after the need-th line end from the end of the file, 0), or (0, still needed)."""
    with open(path, "rb") as f:
        hi = f.seek(0, os.SEEK_END)
        span = BLOCK
        while hi > 0:
            lo = max(0, hi - span)
            blk = os.pread(f.fileno(), hi - lo, lo)
            # a record is told partial by its start: one cut by the block's start is read whole
            # with the block before (bytes after the file's last newline are still being written)
            start = blk.find(b"\n") + 1 if lo else 0
            if lo and not 0 < start < blk.rfind(b"\n") + 1:
                span *= 2  # no whole record in the block (never with conmon's 8 KiB records)
                continue
            off, need = k8slog.line_end_back(blk, need, start=start, newest=newest)
            if need == 0:
                return lo + off, 0
            newest = False
            hi = lo + start
        return 0, need


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
    """Woken by the writer (IN_MODIFY), a rotation, a new generation, or an exit file. Each new
    generation is opened at once and held (`held`, by number): conmon may prune it before the
    follower gets to it when the container writes faster than the follower reads (max-file small),
    and a held file stays readable."""

    def __init__(self, cdir: str, gens_dir: str, exit_dir: str) -> None:
        self._ino = inotify.Inotify(blocking=False)
        self.held: dict[int, int] = {}
        self._gens_dir = gens_dir
        self._gens_wd = -1
        for p in (cdir, gens_dir, exit_dir):
            try:
                wd = self._ino.add(p, _FOLLOW_MASK)
            except OSError:
                continue
            if p == gens_dir:
                self._gens_wd = wd
        self._event = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._ino.fd, self._on_ready)

    def _on_ready(self) -> None:
        try:
            events = self._ino.read()
        except OSError:
            events = []
        for wd, mask, name in events:
            if wd == self._gens_wd and mask & inotify.IN_CREATE and name.isdigit() and int(name) not in self.held:
                try:  # a link conmon just made: one open(2), before the next rotation can prune it
                    self.held[int(name)] = os.open(
                        os.path.join(self._gens_dir, name.decode()), os.O_RDONLY | os.O_CLOEXEC
                    )
                except OSError:
                    pass
        self._event.set()

    def take(self, seq: int) -> int:
        """The held descriptor of generation `seq` (the caller owns it now), or -1."""
        return self.held.pop(seq, -1)

    def drop_below(self, seq: int) -> None:
        for s in [s for s in self.held if s < seq]:
            os.close(self.held.pop(s))

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            pass
        self._event.clear()

    def close(self) -> None:
        self._loop.remove_reader(self._ino.fd)
        self._ino.close()
        for fd in self.held.values():
            os.close(fd)
        self.held.clear()


async def read(
    layout: Layout, cid: str, q: LogQuery, exit_dir: str, exited: Callable[[], bool]
) -> AsyncIterator[LogChunk]:
    """The container's log as `q` asks; with q.follow until `exited()` says the writer is gone."""
    r = k8slog.Render(q.stdout, q.stderr, q.since, q.until, q.timestamps, q.details)
    wake = _Wake(layout.dir(cid), layout.gens_dir(cid), exit_dir) if q.follow else None
    try:
        gens = await asyncio.to_thread(layout.generations, cid)
        index, offset = await asyncio.to_thread(_start, gens, q)
        cur = _Cursor(layout, cid, gens, index, offset, wake)
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
            await wake.wait(0.1)  # container.log gone (a removal under way): wait for the exit
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
