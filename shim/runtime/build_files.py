"""Runtime adapter: the classic builder's files (blocking; the engine calls it through asyncio.to_thread).

Under `<data-root>/builder/<build>/`: `context.tar` (the request body, spooled to disk as it
arrives, never held in memory), `context/` (it unpacked: hostile names refused, writes
never leave it), and one `step-*/{upper,work,merged}` overlay per COPY/ADD/WORKDIR step:
the parent image's layers with a fresh upper dir, whose content becomes the step's layer.
Sources are resolved as dockerd's copier does: inside the context (symlinks followed in
scope, `..` can't climb out, a leading `/` is the context root) or inside another image's
root for `COPY --from`; destinations are resolved inside the step's root filesystem.
"""

from __future__ import annotations

import contextlib
import fnmatch
import gzip
import hashlib
import lzma
import os
import posixpath
import shutil
import socket
import stat
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import IO

from shim.engine.imageports import BuildCopySource, BuildStepRoot
from shim.errors import InvalidParameter, NotFound, SystemFailure
from shim.runtime import overlay, tarsafe
from shim.runtime.fsutil import lazy_unmount
from shim.runtime.layers import open_decompressed, tar_diff
from shim.runtime.registry.proxy import ProxyConfig
from shim.runtime.rootfs_io import extract_archive, placeholder
from shim.runtime.rootpath import ContainerView, secure_join

CHUNK = 1 << 20
_WILDCARDS = "*?["


class BuildFiles:
    def __init__(self, data_root: str) -> None:
        self.root = os.path.join(data_root, "builder")
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        for name in os.listdir(self.root):  # a crash mid-build: its mounts and files go
            self.discard(os.path.join(self.root, name))

    # --- workspace and context -------------------------------------------------------------
    def workspace(self) -> str:
        return tempfile.mkdtemp(dir=self.root, prefix="build-")

    def discard(self, path: str) -> None:
        """A workspace and whatever is still mounted in it (a cancelled step's root)."""
        real = os.path.realpath(path)
        with open("/proc/self/mountinfo") as f:  # read once: it is long on a busy host
            mounts = [line.split()[4] for line in f]
        for m in sorted((m for m in mounts if m == real or m.startswith(real + "/")), key=len, reverse=True):
            lazy_unmount(m)
        shutil.rmtree(path, ignore_errors=True)

    def open_spool(self, workspace: str) -> IO[bytes]:
        return open(os.path.join(workspace, "context.tar"), "wb")

    def unpack_context(self, workspace: str) -> tuple[str, bool]:
        """The spooled body unpacked into `<workspace>/context`; (dir, True) when it was not a tar but
        a bare Dockerfile (`docker build - < Dockerfile`), then stored as `Dockerfile`."""
        spool = os.path.join(workspace, "context.tar")
        ctx = os.path.join(workspace, "context")
        os.mkdir(ctx, 0o755)
        try:
            with open_decompressed(spool) as f:
                head = f.read(512)
            is_tar = len(head) == 512 and (head[257:262] == b"ustar" or _v7_tar(head))
            if not is_tar and head.strip():
                with open_decompressed(spool) as f, open(os.path.join(ctx, "Dockerfile"), "wb") as out:
                    shutil.copyfileobj(f, out, CHUNK)
                return ctx, True
            if is_tar:
                with open_decompressed(spool) as f:
                    tarsafe.extract(f, ctx, hook=_refuse_escapes(ctx), same_owner=False)
        except (OSError, EOFError, lzma.LZMAError, gzip.BadGzipFile) as e:
            raise InvalidParameter(f"failed to read the build context: {e}") from e
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(spool)
        return ctx, False

    def read_context_file(self, ctx: str, rel: str) -> bytes | None:
        """A file of the context (symlinks followed inside it); None when missing."""
        path = ContainerView(ctx).host_path(tarsafe.clean_member_name(rel.lstrip("/"), ctx))
        try:
            with open(path, "rb") as f:
                return f.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def remove_excluded(self, ctx: str, excluded: Callable[[str], bool], keep: set[str]) -> None:
        """.dockerignore in the daemon: every path it excludes goes (except `keep`, read first)."""
        for dirpath, dirnames, filenames in os.walk(ctx):
            rel_dir = os.path.relpath(dirpath, ctx)
            for name in list(dirnames):
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                if excluded(rel) and not any(k == rel or k.startswith(rel + "/") for k in keep):
                    shutil.rmtree(os.path.join(dirpath, name), ignore_errors=True)
                    dirnames.remove(name)
            for name in filenames:
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                if excluded(rel) and rel not in keep:
                    os.unlink(os.path.join(dirpath, name))

    def remove_context_file(self, ctx: str, rel: str) -> None:
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            os.unlink(os.path.join(ctx, tarsafe.clean_member_name(rel, ctx)))

    # --- sources: resolution and checksums -------------------------------------------------
    def sources(self, root: str, patterns: list[str], cmd: str) -> list[BuildCopySource]:
        """Each source pattern resolved inside `root` (a context or an image root), with dockerd's
        errors, and a checksum of the content (names, modes, sizes, link targets and bytes)."""
        out: list[BuildCopySource] = []
        for pattern in patterns:
            orig = pattern.removeprefix("/").removeprefix("./")
            clean = posixpath.normpath(orig) if orig else "."
            if clean == ".." or clean.startswith("../"):
                raise InvalidParameter(f"forbidden path outside the build context: {pattern} ()")
            if any(c in clean for c in _WILDCARDS):
                matches = _glob(root, clean)
                if not matches:
                    raise NotFound(f"{cmd} failed: no source files were specified")
                out.extend(_source(root, m, follow=False) for m in matches)
                continue
            host = ContainerView(root).host_path("" if clean == "." else clean)
            if not os.path.lexists(host):
                raise NotFound(
                    f"{cmd} failed: file not found in build context or excluded by .dockerignore: "
                    f"stat {clean}: file does not exist"
                )
            out.append(_source(root, clean, follow=True, host=host))
        return out

    # --- a step's root filesystem ------------------------------------------------------------
    def mount_step(self, workspace: str, layer_dirs: list[str]) -> BuildStepRoot:
        d = tempfile.mkdtemp(dir=workspace, prefix="step-")
        merged = os.path.join(d, "merged")
        upper = os.path.join(d, "upper")
        overlay.mount_overlay(list(layer_dirs), upper, os.path.join(d, "work"), merged)
        return BuildStepRoot(dir=d, merged=merged, upper=upper)

    def unmount_step(self, step: BuildStepRoot) -> None:
        overlay.unmount(step.merged)

    def copy(
        self,
        step: BuildStepRoot,
        src_root: str,
        sources: list[BuildCopySource],
        dest: str,
        *,
        owner: tuple[int, int] | None,
        chmod: int | None,
        unpack: bool,
    ) -> None:
        """performCopyForInfo for each source into `dest` (a path in the step's root)."""
        view = ContainerView(step.merged, [])
        if len(sources) > 1 and not dest.endswith("/"):
            raise InvalidParameter(
                "When using COPY with more than one source file, the destination must be a directory and end with a /"
            )
        for src in sources:
            host = src.host or ContainerView(src_root).host_path(src.rel)
            if src.is_dir:
                _copy_dir(view, host, dest, owner, chmod)
            elif unpack and _is_archive(host):
                target = _mkdir_all(view, dest.rstrip("/") or "/", owner)
                with open_decompressed(host) as f:
                    extract_archive(view, target, f, no_overwrite_dir_nondir=False, owner=owner)
            else:
                _copy_file(view, host, dest, src.name, owner, chmod)

    def mkdir(self, step: BuildStepRoot, path: str) -> None:
        """WORKDIR: created (0755, root) if missing, as dockerd's ContainerCreateWorkdir."""
        view = ContainerView(step.merged, [])
        host, _, _ = view.host_of(view.resolve(path, True))
        if os.path.exists(host) and not os.path.isdir(host):
            raise SystemFailure(f"Cannot mkdir: {path} is not a directory")
        _mkdir_all(view, path, None)

    def chown_ids(self, step: BuildStepRoot, chown: str) -> tuple[int, int]:
        """parseChownFlag: user[:group] by name (the image's /etc/passwd, /etc/group) or id; a lone
        user is its own group."""
        parts = chown.split(":")
        if len(parts) > 2:
            raise InvalidParameter("invalid chown string format: " + chown)
        user, group = (parts[0], parts[0]) if len(parts) == 1 else (parts[0], parts[1])
        uid = _lookup(step.merged, "passwd", user, "user")
        gid = _lookup(step.merged, "group", group, "group")
        return uid, gid

    def layer_tar(self, upper: str) -> str:
        """The step's diff as a layer tar ("" when nothing changed), without the mount points the
        runtime creates for a RUN container (dockerd keeps those in the container's init layer)."""
        if not _has_changes(upper):
            return ""
        fd, path = tempfile.mkstemp(dir=os.path.dirname(upper), suffix=".tar")
        os.close(fd)
        tar_diff(upper, path, skip=placeholder)
        return path

    def fetch_url(self, workspace: str, url: str) -> tuple[str, str, float]:
        """ADD <url>: the file downloaded into the workspace, 0600, its mtime the Last-Modified
        header's (else the epoch), as dockerd's downloadSource; (path, file name, mtime)."""
        parsed = urllib.parse.urlparse(url)
        name = "" if parsed.path.endswith("/") else posixpath.basename(parsed.path)
        d = tempfile.mkdtemp(dir=workspace, prefix="url-")
        path = os.path.join(d, "file")
        mtime = 0.0
        try:
            # the daemon's proxy environment by Go's rules, as dockerd's http.Get (never for loopback)
            proxy = ProxyConfig.from_env().proxy_for(url)
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({parsed.scheme: proxy} if proxy else {}))
            with opener.open(url, timeout=60) as resp:
                disp = resp.headers.get("Content-Disposition") or ""
                if not name and "filename=" in disp:
                    name = posixpath.basename(disp.split("filename=", 1)[1].strip('"; '))
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(resp, out, CHUNK)
                if resp.headers.get("Last-Modified"):
                    with contextlib.suppress(TypeError, ValueError):
                        mtime = parsedate_to_datetime(resp.headers["Last-Modified"]).timestamp()
        except urllib.error.HTTPError as e:
            body = e.read(4096).decode("utf-8", "replace")
            raise InvalidParameter(f"ADD failed: failed to GET {url} with status {e.code} {e.reason}: {body}") from None
        except (OSError, ValueError) as e:
            raise InvalidParameter(f"ADD failed: {_get_error(url, parsed, e)}") from None
        os.utime(path, (mtime, mtime))
        return path, name or "__unnamed__", mtime


def _get_error(url: str, parsed: urllib.parse.ParseResult, e: BaseException) -> str:
    """A failed GET in Go's words where we know them (`Get "<url>": dial tcp …: connection refused`)."""
    reason = getattr(e, "reason", e)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if isinstance(reason, ConnectionRefusedError):
        return f'Get "{url}": dial tcp {parsed.hostname}:{port}: connect: connection refused'
    if isinstance(reason, socket.gaierror):
        return f'Get "{url}": dial tcp: lookup {parsed.hostname}: no such host'
    if isinstance(reason, TimeoutError | socket.timeout):
        return f'Get "{url}": dial tcp {parsed.hostname}:{port}: i/o timeout'
    return f'Get "{url}": {reason}'


# --- helpers ---------------------------------------------------------------------------------


def _v7_tar(head: bytes) -> bool:
    """An old-style tar header without the ustar magic: its checksum field must add up."""
    try:
        chk = int(head[148:156].split(b"\0")[0].strip() or b"-1", 8)
    except ValueError:
        return False
    return chk == sum(head[:148]) + 8 * 32 + sum(head[156:])


def _refuse_escapes(ctx: str) -> tarsafe.EntryHook:
    """A build context may not name paths outside itself, absolute paths or paths through its own
    symlinks: refused, not quietly confined."""

    def hook(ti: tarfile.TarInfo, path: str) -> bool:
        name = ti.name
        if name.startswith("/") or ".." in name.split("/"):
            raise InvalidParameter(f"invalid build context: {name!r} is outside of the context")
        rel = tarsafe.clean_member_name(name, ctx)
        if os.path.dirname(path) != os.path.dirname(os.path.join(ctx, rel)):
            raise InvalidParameter(f"invalid build context: {name!r} is reached through a symlink")
        if ti.islnk() and (ti.linkname.startswith("/") or ".." in ti.linkname.split("/")):
            raise InvalidParameter(f"invalid build context: hard link {name!r} points outside of the context")
        return False

    return hook


def _glob(root: str, pattern: str) -> list[str]:
    """dockerd walks the context and keeps paths matching the pattern (filepath.Match)."""
    found: list[str] = []
    depth = pattern.count("/")
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        level = 0 if rel_dir == "." else rel_dir.count("/") + 1
        for name in sorted(dirnames + filenames):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if level == depth and fnmatch.fnmatchcase(rel, pattern) and _no_slash_wild(rel, pattern):
                found.append(rel)
        if level >= depth:
            dirnames[:] = []
    return sorted(found)


def _no_slash_wild(rel: str, pattern: str) -> bool:
    return rel.count("/") == pattern.count("/")


def _source(root: str, rel: str, *, follow: bool, host: str = "") -> BuildCopySource:
    host = host or os.path.join(root, rel)
    st = os.stat(host) if follow else os.lstat(host)
    h = hashlib.sha256()
    if stat.S_ISDIR(st.st_mode):
        for dirpath, dirnames, filenames in os.walk(host):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                p = os.path.join(dirpath, name)
                _hash_entry(h, os.path.relpath(p, host), p)
        kind = "dir"
    else:
        _hash_entry(h, "", host)
        kind = "file"
    return BuildCopySource(
        rel=rel,
        host=host,
        name=posixpath.basename(rel) if rel != "." else "",
        is_dir=stat.S_ISDIR(st.st_mode),
        checksum=f"{kind}:{h.hexdigest()}",
    )


def _hash_entry(h: hashlib._Hash, rel: str, path: str) -> None:
    st = os.lstat(path) if rel else os.stat(path)
    link = os.readlink(path) if stat.S_ISLNK(st.st_mode) else ""
    h.update(f"{rel}\0{st.st_mode:o}\0{st.st_size}\0{link}\0".encode("utf-8", "surrogateescape"))
    if stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)


def _is_archive(path: str) -> bool:
    try:
        with open_decompressed(path) as f:
            head = f.read(512)
    except (OSError, EOFError, lzma.LZMAError, InvalidParameter):
        return False
    return len(head) == 512 and (head[257:262] == b"ustar" or _v7_tar(head))


def _mkdir_all(view: ContainerView, cpath: str, owner: tuple[int, int] | None) -> str:
    """MkdirAllAndChownNew inside the step root: missing directories 0755, new ones chowned."""
    resolved = view.resolve(cpath, True)
    missing: list[str] = []
    c = resolved
    while c != "/":
        host, _, _ = view.host_of(c)
        if os.path.lexists(host):
            break
        missing.append(host)
        c = posixpath.dirname(c)
    for host in reversed(missing):
        os.mkdir(host, 0o755)
        if owner is not None:
            os.lchown(host, *owner)
    return resolved


def _copy_file(
    view: ContainerView, src: str, dest: str, name: str, owner: tuple[int, int] | None, chmod: int | None
) -> None:
    cdest = view.resolve(dest, True)
    host, _, _ = view.host_of(cdest)
    if dest.endswith("/") or (os.path.isdir(host)):
        parent = _mkdir_all(view, dest, owner)
        target_c = posixpath.join(parent, name)
    else:
        parent = _mkdir_all(view, posixpath.dirname(cdest) or "/", owner)
        target_c = posixpath.join(parent, posixpath.basename(cdest))
    target, _, _ = view.host_of(target_c)
    _place(src, target, owner, chmod)


def _copy_dir(view: ContainerView, src: str, dest: str, owner: tuple[int, int] | None, chmod: int | None) -> None:
    existed = os.path.isdir(view.host_of(view.resolve(dest, True))[0])
    top = _mkdir_all(view, dest, owner)
    top_host, _, _ = view.host_of(top)
    if not existed:
        st = os.stat(src)
        os.chmod(top_host, chmod if chmod is not None else stat.S_IMODE(st.st_mode))
        os.utime(top_host, ns=(st.st_atime_ns, st.st_mtime_ns))
    dir_times: list[tuple[str, os.stat_result]] = []
    for dirpath, dirnames, filenames in os.walk(src):
        rel_dir = os.path.relpath(dirpath, src)
        cdir = top if rel_dir == "." else posixpath.join(top, rel_dir)
        for name in sorted(dirnames):
            s = os.path.join(dirpath, name)
            st = os.lstat(s)
            t, _, _ = view.host_of(posixpath.join(cdir, name))
            if stat.S_ISLNK(st.st_mode):
                _place(s, t, owner, None)
                continue
            if os.path.lexists(t) and not os.path.isdir(t):
                os.unlink(t)
            if not os.path.lexists(t):
                os.mkdir(t)
            os.chmod(t, chmod if chmod is not None else stat.S_IMODE(st.st_mode))
            os.lchown(t, *(owner if owner is not None else (st.st_uid, st.st_gid)))
            dir_times.append((t, st))
        for name in filenames:
            s = os.path.join(dirpath, name)
            t, _, _ = view.host_of(posixpath.join(cdir, name))
            _place(s, t, owner, chmod)
    for t, st in reversed(dir_times):
        os.utime(t, ns=(st.st_atime_ns, st.st_mtime_ns))


def _place(src: str, target: str, owner: tuple[int, int] | None, chmod: int | None) -> None:
    """One non-directory entry: replaced, content, mode, owner and mtime as the source's."""
    st = os.lstat(src)
    if os.path.lexists(target):
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target)
        else:
            os.unlink(target)
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), target)
    elif stat.S_ISREG(st.st_mode):
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out, open(src, "rb") as f:
            shutil.copyfileobj(f, out, CHUNK)
    elif stat.S_ISFIFO(st.st_mode):
        os.mkfifo(target, 0o600)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        os.mknod(target, stat.S_IFMT(st.st_mode) | 0o600, st.st_rdev)
    else:
        return
    uid, gid = owner if owner is not None else (st.st_uid, st.st_gid)
    os.lchown(target, uid, gid)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(target, chmod if chmod is not None else stat.S_IMODE(st.st_mode))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _lookup(rootfs: str, db: str, name: str, what: str) -> int:
    if name.isdigit():
        return int(name)
    path = secure_join(rootfs, f"/etc/{db}")
    try:
        with open(path, errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split(":")
                if len(parts) >= 3 and parts[0] == name and parts[2].isdigit():
                    return int(parts[2])
    except (FileNotFoundError, NotADirectoryError):
        pass
    raise InvalidParameter(
        f"unable to convert uid/gid chown string to host mapping: can't find {'uid' if what == 'user' else 'gid'} "
        f"for {what} {name}: no such {what}: {name}"
    )


def _has_changes(upper: str) -> bool:
    for dirpath, dirnames, filenames in os.walk(upper):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = "/" + os.path.relpath(p, upper)
            if not placeholder(rel, os.lstat(p)):
                return True
    return False
