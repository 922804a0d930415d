"""Runtime adapter: a container's log files on disk, and the generations kept across conmon's rotations.

conmon writes `<data-root>/containers/<id>/container.log` (k8s-file format; `LogPath` of a
json-file container). With `--log-size-max` it rotates by itself when the next write would pass
max-size (ctr_logging.c reopen_k8s_file): open(`container.log.tmp`, O_TRUNC|O_CREAT), then
rename(tmp, `container.log`), which unlinks the file written so far. To keep max-file files as
dockerd does, conmon runs with a small preload library (conmon_keep.c): at that rename it first
links the outgoing file as `logs/<seq>` (growing, zero-padded numbers) and removes the ones beyond
max-file - 1. It runs inside conmon at the moment of the rotation, so nothing is lost at the
boundary however fast the container writes, and rotation goes on unchanged while shimd is down.

The rest is shimd's, and none of it is urgent:
- `prepare` before conmon starts: the policy saved when there is something to keep (a restarted
  shimd reads it; none is the same as a policy that keeps nothing), and a previous
  run's file moved to `logs/` (conmon counts from zero: the file would pass max-size otherwise);
- compression (`compress=true`, and `local`'s default): a watcher thread sees each new `logs/<seq>`
  (inotify) and a worker gzips it to `logs/<seq>.gz` with the file's mtime; files rotated while
  shimd was down are compressed when it watches the container again;
- `generations()`: the kept files, oldest first, then `container.log`, for the readers.

Without rotation (no max-size) or with max-file 1 there is nothing to keep: conmon's own
behaviour is dockerd's there (one growing file; or one file started afresh at max-size).
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
GENS = "logs"
POLICY = "log-policy.json"


def keeping(p: LogPolicy) -> bool:
    """Whether there are generations to keep beside the current file."""
    return p.driver != "none" and p.max_size > 0 and p.max_file >= 2


def preload_library() -> str | None:
    """The built conmon_keep library (setuptools builds it beside this module), None if missing."""
    here = os.path.dirname(os.path.abspath(__file__))
    for name in sorted(os.listdir(here)):
        if name.startswith("_conmon_keep") and name.endswith(".so"):
            return os.path.join(here, name)
    return None


@dataclasses.dataclass(slots=True)
class Gen:
    """One file of a container's log, oldest first in a listing; `seq` None for `container.log`."""

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
            f.write(json.dumps(dataclasses.asdict(p)))  # the C encoder (json.dump: the pure-Python one)
        os.replace(path + ".new", path)

    def generations(self, cid: str) -> list[Gen]:
        """Every kept file in order (a plain file rather than its .gz when both exist, as while it
        is compressed), then `container.log`."""
        out: list[Gen] = []
        seen: set[int] = set()
        gdir = self.gens_dir(cid)
        for seq, name in _listing(gdir):
            if seq in seen:
                continue
            st = _stat(os.path.join(gdir, name))
            if st is not None:
                seen.add(seq)
                out.append(_gen(os.path.join(gdir, name), seq, st, gz=name.endswith(".gz")))
        cur = _stat(self.current(cid))
        if cur is not None:
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


class Keeper:
    """prepare() before conmon starts, conmon's environment, and compression of the kept files
    (one inotify thread for every watched container, one worker). Blocking: call from a thread."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.library = preload_library()
        self._policies: dict[str, LogPolicy] = {}
        self._by_wd: dict[int, str] = {}
        self._wds: dict[str, int] = {}
        self._guard = threading.Lock()
        self._ino: inotify.Inotify | None = None
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = -1, -1
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shim-logs")
        self._pending: set[str] = set()

    def prepare(self, cid: str, policy: LogPolicy) -> None:
        """Before conmon starts: the policy saved, and with rotation the generations directory,
        a previous run's file moved into it (a restart starts a new file), older ones pruned."""
        lay = self.layout
        os.makedirs(lay.dir(cid), exist_ok=True)
        if not keeping(policy):
            # Nothing to keep (the default json-file, no max-size): no file. resume(), its only
            # reader, does the same for no file as for this policy; a file creation on this
            # unjournaled ext4 is ~0.2-0.3 ms of kernel time per start (issue 17, fifth pass).
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(lay.dir(cid), POLICY))
            return
        lay.save_policy(cid, policy)
        os.makedirs(lay.gens_dir(cid), exist_ok=True)
        cur = _stat(lay.current(cid))
        if cur is not None and cur.st_size:
            seqs = [seq for seq, _ in _listing(lay.gens_dir(cid))]
            os.rename(lay.current(cid), os.path.join(lay.gens_dir(cid), f"{max(seqs, default=0) + 1:010d}"))
        _prune(lay.gens_dir(cid), policy.max_file - 1)

    def conmon_env(self, cid: str, policy: LogPolicy) -> dict[str, str]:
        """What conmon needs to keep the generations itself (the preload library's settings)."""
        if not keeping(policy):
            return {}
        if self.library is None:
            log.warning("%s: the conmon_keep library is not built: rotated logs are not kept", cid[:12])
            return {}
        return {
            "LD_PRELOAD": self.library,
            "SHIM_LOG_PATH": self.layout.current(cid),
            "SHIM_LOG_GENS": self.layout.gens_dir(cid),
            "SHIM_LOG_KEEP": str(policy.max_file),
        }

    def resume(self, cid: str) -> None:
        """The container runs (started, or found running by a restarted shimd): compress what it
        rotates from now on and whatever it rotated unwatched."""
        policy = self.layout.policy(cid)
        if policy is None or not (keeping(policy) and policy.compress):
            return
        with self._guard:
            self._policies[cid] = policy
            if cid not in self._wds:
                self._ensure_thread()
                assert self._ino is not None
                try:
                    wd = self._ino.add(self.layout.gens_dir(cid), inotify.IN_CREATE | inotify.IN_MOVED_TO)
                except OSError:
                    return
                self._wds[cid], self._by_wd[wd] = wd, cid
        self._compress_soon(cid)

    def release(self, cid: str) -> None:
        """The container's process is gone: what it rotated last is compressed, no more watching."""
        with self._guard:
            wd = self._wds.pop(cid, None)
            policy = self._policies.pop(cid, None)
            if wd is not None:
                self._by_wd.pop(wd, None)
        if wd is not None and self._ino is not None:
            self._ino.remove(wd)
        if policy is not None and os.path.isdir(self.layout.gens_dir(cid)):
            self._worker.submit(_compress_all, self.layout.gens_dir(cid))

    # --- compression ---------------------------------------------------------------------

    def _compress_soon(self, cid: str) -> None:
        with self._guard:
            if cid in self._pending:
                return
            self._pending.add(cid)
        self._worker.submit(self._compress_now, cid)

    def _compress_now(self, cid: str) -> None:
        with self._guard:
            self._pending.discard(cid)
        try:
            _compress_all(self.layout.gens_dir(cid))
        except OSError as e:
            log.warning("compressing the log of %s: %s", cid[:12], e)

    def _ensure_thread(self) -> None:
        if self._ino is None:
            self._ino = inotify.Inotify(blocking=False)
            self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
            self._thread = threading.Thread(target=self._run, name="shim-log-keeper", daemon=True)
            self._thread.start()

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
                cid = self._by_wd.get(wd)
                if mask & inotify.IN_Q_OVERFLOW:
                    for each in list(self._by_wd.values()):
                        self._compress_soon(each)
                elif cid is not None and name.isdigit():
                    self._compress_soon(cid)

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


def _prune(gdir: str, keep: int) -> None:
    """Only the newest `keep` generations stay (conmon_keep.c does the same at each rotation)."""
    entries = _listing(gdir)
    seqs = sorted({seq for seq, _ in entries})
    cut = set(seqs[: max(0, len(seqs) - keep)])
    for seq, name in entries:
        if seq in cut:
            _unlink(os.path.join(gdir, name))


def _compress_all(gdir: str) -> None:
    """gzip every kept file not compressed yet (dockerd compresses each file it rotates)."""
    for _seq, name in _listing(gdir):
        if not name.endswith(".gz"):
            _gzip(os.path.join(gdir, name))


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _gzip(path: str) -> None:
    """`<path>.gz` with the file's mtime (what --since skips files by), then the plain file goes
    (a reader holding it open keeps it); nothing if conmon pruned the file meanwhile."""
    try:
        st = os.stat(path)
        with (
            open(path, "rb") as src,
            open(path + ".gz.tmp", "wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=int(st.st_mtime)) as dst,
        ):
            os.fchmod(raw.fileno(), st.st_mode & 0o777)  # as private as conmon's file (0600)
            shutil.copyfileobj(src, dst, 1 << 20)
        os.utime(path + ".gz.tmp", ns=(st.st_atime_ns, st.st_mtime_ns))
        if not os.path.exists(path):  # pruned meanwhile
            _unlink(path + ".gz.tmp")
            return
        os.replace(path + ".gz.tmp", path + ".gz")
        _unlink(path)
    except FileNotFoundError:
        _unlink(path + ".gz.tmp")
