"""Runtime adapter: a container's log files on disk, and the generations kept across conmon's rotations.

conmon writes `<data-root>/containers/<id>/container.log` (k8s-file format; `LogPath` of a
json-file container). With `--log-size-max` it rotates by itself when the next write would pass
max-size (ctr_logging.c reopen_k8s_file): open(`container.log.tmp`, O_TRUNC|O_CREAT), then
rename(tmp, `container.log`), which unlinks the file it wrote so far. To keep max-file
generations the keeper gives every file conmon writes a second, permanent name before conmon
gets to it:

- `logs/<seq>`: one name per generation (`<seq>` zero-padded, growing; `<seq>.gz` once compressed);
- `container.log` and `logs/<seq>` of the current generation are the same inode;
- `container.log.tmp` is pre-created as a hard link of a fresh, empty `logs/<seq+1>` (the *spare*):
  conmon's rotation opens it (O_TRUNC of an empty file) and renames it into place, so the file
  it leaves keeps its `logs/<seq>` name and the new one already has its own.

On each rotation (inotify IN_MOVED_TO of `container.log`, one watch per container, read by one
thread) the keeper links a new spare (`stat`, `open`, `link`: no Python between conmon's
rotations beyond that), then prunes to max-file and gzips the older generations on a worker.
When conmon rotates again before the keeper linked the next spare, it creates a tmp of its own:
the keeper gives that file its `logs/` name when it sees it (the "adoption"). Nothing is lost
unless conmon rotates three times before the keeper reacts (two rotations are covered: the
spare, then adoption). While shimd is down conmon keeps rotating at max-size: the first
rotation uses the spare, the second file is adopted at the next start, and every file between
them is lost (the disk bound holds: at most max-file + 1 files). docs/LOGGING.md has the rest.

Without rotation (no max-size) or with max-file 1 there is nothing to keep: conmon's own
behaviour is dockerd's there (one growing file; or one file cut at max-size), and `container.log`
is the only file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import gzip
import json
import logging
import os
import select
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor

from shim.engine.ports import LogPolicy
from shim.runtime import inotify

log = logging.getLogger("shim.runtime.logs")

CURRENT = "container.log"
TMP = CURRENT + ".tmp"  # conmon's rotation temp name
GENS = "logs"
POLICY = "log-policy.json"


def keeping(p: LogPolicy) -> bool:
    """Whether there are generations to keep beside the current file."""
    return p.driver != "none" and p.max_size > 0 and p.max_file >= 2


@dataclasses.dataclass(slots=True)
class Gen:
    """One file of a container's log, oldest first in a listing; `seq` None for `container.log` alone."""

    path: str
    seq: int | None
    ino: int
    size: int
    mtime_ns: int
    gz: bool = False
    current: bool = False


class Layout:
    """Where a container's log files are (blocking helpers: call them from a thread)."""

    def __init__(self, data_root: str) -> None:
        self.data_root = data_root

    def dir(self, cid: str) -> str:
        return os.path.join(self.data_root, "containers", cid)

    def current(self, cid: str) -> str:
        return os.path.join(self.dir(cid), CURRENT)

    def gens_dir(self, cid: str) -> str:
        return os.path.join(self.dir(cid), GENS)

    def policy(self, cid: str) -> LogPolicy | None:
        try:
            with open(os.path.join(self.dir(cid), POLICY)) as f:
                return LogPolicy(**json.load(f))
        except (OSError, ValueError, TypeError):
            return None

    def save_policy(self, cid: str, p: LogPolicy) -> None:
        path = os.path.join(self.dir(cid), POLICY)
        with open(path + ".new", "w") as f:
            json.dump(dataclasses.asdict(p), f)
        os.replace(path + ".new", path)

    def generations(self, cid: str) -> list[Gen]:
        """Every kept file in order, ending with the current one; spares and empty leftovers out."""
        cur = _stat(self.current(cid))
        out: list[Gen] = []
        found = False
        for seq, name in _listing(self.gens_dir(cid)):
            st = _stat(os.path.join(self.gens_dir(cid), name))
            if st is None:
                continue
            gz = name.endswith(".gz")
            if cur is not None and not gz and st.st_ino == cur.st_ino:
                out.append(_gen(os.path.join(self.gens_dir(cid), name), seq, st, current=True))
                found = True
                break
            if st.st_size:
                out.append(_gen(os.path.join(self.gens_dir(cid), name), seq, st, gz=gz))
        if not found and cur is not None:
            # the current file without a generation name: no rotation kept, or not adopted yet
            out.append(_gen(self.current(cid), None, cur, current=True))
        return out


def _gen(path: str, seq: int | None, st: os.stat_result, *, gz: bool = False, current: bool = False) -> Gen:
    return Gen(path, seq, st.st_ino, st.st_size, st.st_mtime_ns, gz, current)


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _listing(gdir: str) -> list[tuple[int, str]]:
    """(seq, name) of the generation files, by seq; a plain file before its .gz."""
    try:
        names = os.listdir(gdir)
    except OSError:
        return []
    out = []
    for name in names:
        stem = name[:-3] if name.endswith(".gz") else name
        if stem.isdigit():
            out.append((int(stem), name))
    out.sort(key=lambda t: (t[0], t[1].endswith(".gz")))
    return out


@dataclasses.dataclass(slots=True)
class _Kept:
    cid: str
    policy: LogPolicy
    wd: int = -1
    next_seq: int = 1
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)


class Keeper:
    """Keeps the generations of every rotating container (see the module docstring). Its methods
    block: call them from a thread. One thread reads the inotify events; one worker prunes and
    compresses."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._kept: dict[str, _Kept] = {}
        self._by_wd: dict[int, _Kept] = {}
        self._guard = threading.Lock()
        self._ino: inotify.Inotify | None = None
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = -1, -1
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shim-logs")
        self._pending: set[str] = set()

    # --- per container ---------------------------------------------------------------

    def prepare(self, cid: str, policy: LogPolicy) -> None:
        """Before conmon starts: the policy saved (a restarted shimd reads it), and with rotation a
        fresh current file with its generation name plus the spare. A previous run's file becomes
        a generation of its own (conmon would count from zero and pass max-size otherwise)."""
        lay = self.layout
        os.makedirs(lay.dir(cid), exist_ok=True)
        lay.save_policy(cid, policy)
        if not keeping(policy):
            return
        os.makedirs(lay.gens_dir(cid), exist_ok=True)
        k = self._state(cid, policy)
        with k.lock:
            self._adopt(k)
            cur = _stat(lay.current(cid))
            if cur is None or cur.st_size:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(lay.dir(cid), TMP))
                path = self._new_gen(k)
                os.link(path, os.path.join(lay.dir(cid), TMP))
                os.replace(os.path.join(lay.dir(cid), TMP), lay.current(cid))
            self._spare(k)
        self._housekeep(cid)

    def resume(self, cid: str) -> None:
        """A running container (after a shimd restart, or at start): watch its rotations, and
        catch up with what happened unwatched."""
        policy = self.layout.policy(cid)
        if policy is None or not keeping(policy):
            return
        with self._guard:
            if cid in self._kept and self._kept[cid].wd >= 0:
                return
        k = self._state(cid, policy)
        self._watch(k)
        self._on_rotation(k)

    def release(self, cid: str) -> None:
        """The container's process is gone: a last catch-up, and no more watching."""
        with self._guard:
            k = self._kept.pop(cid, None)
            if k is not None and k.wd >= 0:
                self._by_wd.pop(k.wd, None)
        if k is None:
            return
        if k.wd >= 0 and self._ino is not None:
            self._ino.remove(k.wd)
        if os.path.isdir(self.layout.dir(cid)):
            with k.lock:
                self._adopt(k)
            self._prune_and_compress(k)

    def _state(self, cid: str, policy: LogPolicy) -> _Kept:
        with self._guard:
            k = self._kept.get(cid)
            if k is None:
                k = self._kept[cid] = _Kept(cid, policy)
            k.policy = policy
            seqs = [s for s, _ in _listing(self.layout.gens_dir(cid))]
            k.next_seq = max(k.next_seq, (max(seqs) + 1) if seqs else 1)
            return k

    def _new_gen(self, k: _Kept) -> str:
        """A new, empty generation file with the next number."""
        while True:
            path = os.path.join(self.layout.gens_dir(k.cid), f"{k.next_seq:010d}")
            k.next_seq += 1
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
                return path
            except FileExistsError:
                continue

    def _adopt(self, k: _Kept) -> None:
        """Give the current file its generation name if it has none (conmon made its own tmp)."""
        cur = _stat(self.layout.current(k.cid))
        if cur is None or cur.st_nlink > 1:
            return
        path = os.path.join(self.layout.gens_dir(k.cid), f"{k.next_seq:010d}")
        k.next_seq += 1
        with contextlib.suppress(FileNotFoundError, FileExistsError):
            os.link(self.layout.current(k.cid), path)

    def _spare(self, k: _Kept) -> None:
        """`container.log.tmp` as a link of a new, empty generation, unless conmon is mid-rotation."""
        tmp = os.path.join(self.layout.dir(k.cid), TMP)
        st = _stat(tmp)
        if st is not None and st.st_nlink > 1:
            return  # ours, still unused
        if st is not None:
            return  # conmon's own tmp, about to be renamed: adopted at its IN_MOVED_TO
        path = self._new_gen(k)
        try:
            os.link(path, tmp)
        except FileExistsError:
            os.unlink(path)  # conmon created its tmp meanwhile

    def _on_rotation(self, k: _Kept) -> None:
        if not os.path.isdir(self.layout.gens_dir(k.cid)):
            return
        with k.lock:
            self._adopt(k)
            self._spare(k)
        self._housekeep(k.cid)

    # --- pruning and compression (the worker) ---------------------------------------------

    def _housekeep(self, cid: str) -> None:
        with self._guard:
            if cid in self._pending:
                return
            self._pending.add(cid)
        self._worker.submit(self._housekeep_now, cid)

    def _housekeep_now(self, cid: str) -> None:
        with self._guard:
            self._pending.discard(cid)
            k = self._kept.get(cid)
        if k is not None:
            try:
                self._prune_and_compress(k)
            except OSError as e:
                log.warning("log housekeeping of %s: %s", cid, e)

    def _prune_and_compress(self, k: _Kept) -> None:
        """Keep the current file and max-file - 1 older ones; gzip the older ones if asked
        (dockerd compresses each rotated file, and keeps the last entry's time with it: we keep
        the file's mtime, that time's upper bound, for --since). Empty files other than the
        current one are leftovers (a spare never used): they go."""
        gdir = self.layout.gens_dir(k.cid)
        with k.lock:  # not while the keeper thread links a spare
            cur = _stat(self.layout.current(k.cid))
            tmp = _stat(os.path.join(self.layout.dir(k.cid), TMP))
            stats = {name: _stat(os.path.join(gdir, name)) for _, name in _listing(gdir)}
            cur_seq = next(
                (
                    seq
                    for seq, name in _listing(gdir)
                    if cur is not None and (st := stats.get(name)) is not None and st.st_ino == cur.st_ino
                ),
                None,
            )
            if cur_seq is None:
                return
            older: set[int] = set()
            for seq, name in _listing(gdir):
                st = stats.get(name)
                if st is None or seq >= cur_seq or (tmp is not None and st.st_ino == tmp.st_ino):
                    continue  # newer ones are spares (or in use already, when conmon just rotated)
                if st.st_size == 0:
                    _unlink(os.path.join(gdir, name))
                else:
                    older.add(seq)
            ordered = sorted(older)
            keep = set(ordered[len(ordered) - (k.policy.max_file - 1) :])
            for seq, name in _listing(gdir):
                if seq in older and seq not in keep:
                    _unlink(os.path.join(gdir, name))
            for name in os.listdir(gdir):
                if name.endswith(".gz.tmp"):
                    _unlink(os.path.join(gdir, name))  # a compression cut short (this worker does them all)
        if k.policy.compress:
            plain = {seq for seq, name in _listing(gdir) if not name.endswith(".gz")}
            for seq in sorted(plain & keep):
                _gzip(os.path.join(gdir, f"{seq:010d}"))

    # --- the watching thread -----------------------------------------------------------

    def _watch(self, k: _Kept) -> None:
        with self._guard:
            if self._ino is None:
                self._ino = inotify.Inotify(blocking=False)
                self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
                self._thread = threading.Thread(target=self._run, name="shim-log-keeper", daemon=True)
                self._thread.start()
            k.wd = self._ino.add(self.layout.dir(k.cid), inotify.IN_MOVED_TO)
            self._by_wd[k.wd] = k

    def _run(self) -> None:
        ino = self._ino
        assert ino is not None
        poll = select.poll()
        poll.register(ino.fd, select.POLLIN)
        poll.register(self._wake_r, select.POLLIN)
        while True:
            ready = {fd for fd, _ in poll.poll()}
            if self._wake_r in ready:
                return
            try:
                events = ino.read()
            except OSError as e:
                if e.errno == errno.EBADF:
                    return
                raise
            for wd, mask, name in events:
                if mask & inotify.IN_Q_OVERFLOW:
                    for each in list(self._by_wd.values()):
                        self._catch(each)
                    continue
                if name != CURRENT.encode():
                    continue
                kept = self._by_wd.get(wd)
                if kept is not None:
                    self._catch(kept)

    def _catch(self, k: _Kept) -> None:
        try:
            self._on_rotation(k)
        except OSError as e:  # the container's files went away (removed): nothing to keep
            if e.errno not in (errno.ENOENT, errno.ENOTDIR):
                log.warning("keeping the log of %s: %s", k.cid, e)

    def close(self) -> None:
        if self._thread is not None:
            os.write(self._wake_w, b"x")
            self._thread.join(timeout=5)
            self._thread = None
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1
        if self._ino is not None:
            self._ino.close()
            self._ino = None
        self._worker.shutdown(wait=True)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _gzip(path: str) -> None:
    """`<path>.gz` with the file's mtime, then the plain file goes (readers holding it keep it)."""
    try:
        st = os.stat(path)
        with (
            open(path, "rb") as src,
            open(path + ".gz.tmp", "wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=int(st.st_mtime)) as dst,
        ):
            shutil.copyfileobj(src, dst, 1 << 20)
        os.utime(path + ".gz.tmp", ns=(st.st_atime_ns, st.st_mtime_ns))
        if not os.path.exists(path):  # pruned meanwhile
            os.unlink(path + ".gz.tmp")
            return
        os.replace(path + ".gz.tmp", path + ".gz")
        os.unlink(path)
    except FileNotFoundError:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + ".gz.tmp")
