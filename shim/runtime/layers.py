"""Runtime adapter: the image store on disk (blocking; the engine calls it through asyncio.to_thread).

Layout under `<data-root>/image/`:
- `layers/<diff-hex>/diff/`: the layer extracted in overlayfs form (AUFS whiteouts
  `.wh.x` become 0/0 character devices, `.wh..wh..opq` the `trusted.overlay.opaque`
  xattr), ready to be a lower dir;
- `layers/<diff-hex>/layer.tar`: the original uncompressed layer tar, so `docker save`
  hands out byte-identical layers (same diff IDs) without re-creating tars;
- `layers/<diff-hex>/size`: apparent size of the content (what Size reports);
- `configs/<image-hex>.json`: image configs, byte for byte (the image ID is their sha256);
- `tmp/`: staging for uploads and archives, swept at start.

Layers are keyed by diff ID: an extracted diff does not depend on its parent, so images
sharing a diff share its directory.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import os
import shutil
import stat
import sys
import tarfile
import tempfile
import typing
from collections.abc import Callable, Iterator
from typing import IO

from shim.engine.imageports import ArchiveImage, LayerInfo
from shim.errors import HOST_FAULTS, InvalidParameter, NotFound, host_fault
from shim.runtime import tarsafe

CHUNK = 1 << 20
PROGRESS_EVERY = 512 * 1024  # as moby's progress reader: an update per 512 KiB
Progress = Callable[[int], None]


def _hex(digest: str) -> str:
    return digest.split(":", 1)[1] if ":" in digest else digest


def open_decompressed(path: str) -> IO[bytes]:
    """The file as an uncompressed stream, whatever compression its magic bytes announce."""
    return decompressing(open(path, "rb"))


def decompressing(raw: IO[bytes]) -> IO[bytes]:
    """`raw` (positioned at its start) read through the decompressor its magic bytes name:
    gzip, bzip2, xz or zstd (OCI's tar+zstd layers); plain tar as is. Closing the result closes `raw`."""
    magic = raw.read(6)
    raw.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return _closing(typing.cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb")), raw)
    if magic[:3] == b"BZh":
        return _closing(bz2.BZ2File(raw, "rb"), raw)
    if magic[:6] == b"\xfd7zXZ\x00":
        return _closing(lzma.LZMAFile(raw, "rb"), raw)
    if magic[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard  # a C library, loaded with the first zstd layer (issue 17: idle memory)

        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=True)
        return typing.cast(IO[bytes], reader)
    return raw


def _bad_stream() -> tuple[type[BaseException], ...]:
    """The errors of a corrupt compressed stream; zstandard's only once a zstd layer loaded it."""
    zstd = sys.modules.get("zstandard")
    return (EOFError, lzma.LZMAError, gzip.BadGzipFile) + ((zstd.ZstdError,) if zstd is not None else ())


def _closing(stream: IO[bytes], raw: IO[bytes]) -> IO[bytes]:
    close = stream.close

    def both() -> None:
        try:
            close()
        finally:
            raw.close()

    stream.close = both  # type: ignore[method-assign]  # the decompressor's close closes the raw file too
    return stream


class _Tee:
    """Reads the decompressed layer for the tar extractor while hashing it (the diff ID) and
    keeping a copy (`layer.tar`, for `docker save` and push): one pass over the data.
    `progress(compressed bytes read)` is called as it goes; it may raise to abort.

    The tar reader asks for small blocks (10 KiB in stream mode): the decompressor, the hash and
    the copy work on 1 MiB chunks, and small reads are served from that buffer."""

    def __init__(self, src: IO[bytes], copy: IO[bytes], raw: IO[bytes], progress: Progress | None) -> None:
        self.src, self.copy, self.raw, self.progress = src, copy, raw, progress
        self.hash = hashlib.sha256()
        self._reported = 0
        self._buf = memoryview(b"")
        self._eof = False

    def _fill(self) -> None:
        data = self.src.read(CHUNK)
        if data:
            self.hash.update(data)
            self.copy.write(data)
        else:
            self._eof = True
        self._buf = memoryview(data)
        if self.progress is not None:
            pos = self.raw.tell() if not self.raw.closed else self._reported
            if pos - self._reported >= PROGRESS_EVERY or not data:
                self._reported = pos
                self.progress(pos)

    def read(self, n: int = -1) -> bytes:
        if not self._buf and not self._eof:
            self._fill()
        if n is None or n < 0:
            n = len(self._buf)
        out, self._buf = self._buf[:n], self._buf[n:]
        return bytes(out)

    def drain(self) -> None:
        """The tar reader stops at the end-of-archive blocks; the diff ID covers every byte."""
        self._buf = memoryview(b"")
        while not self._eof:
            self._fill()


def whiteout_hook(ti: tarfile.TarInfo, path: str) -> bool:
    """AUFS whiteouts in a layer tar to their overlayfs form (what dockerd's overlay2 does)."""
    parent, base = os.path.split(path)
    if not base.startswith(".wh."):
        return False
    if base == ".wh..wh..opq":
        os.setxattr(parent, "trusted.overlay.opaque", b"y")
        return True
    if base.startswith(".wh..wh."):
        return True  # AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): nothing to do on overlay
    target = os.path.join(parent, base[len(".wh.") :])
    if os.path.lexists(target):
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target)
        else:
            os.unlink(target)
    os.mknod(target, stat.S_IFCHR | 0o600, os.makedev(0, 0))
    return True


def tar_diff(upper_dir: str, out_path: str, skip: Callable[[str, os.stat_result], bool] | None = None) -> None:
    """A container's overlay upper dir as a layer tar, whiteouts back in AUFS form (docker commit).

    0/0 character devices become `.wh.<name>`, opaque directories get a `.wh..wh..opq` entry,
    as dockerd's overlay2 differ writes them. `skip(path, stat)` (path from `/`) leaves entries out.
    """
    with tarfile.open(out_path, "w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(upper_dir):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, upper_dir)
            for name in sorted(dirnames + filenames):
                path = os.path.join(dirpath, name)
                arc = name if rel_dir == "." else f"{rel_dir}/{name}"
                st = os.lstat(path)
                if skip is not None and skip("/" + arc, st):
                    continue
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0):
                    ti = tarfile.TarInfo(os.path.join(os.path.dirname(arc), ".wh." + name).lstrip("/"))
                    ti.mtime = int(st.st_mtime)
                    tar.addfile(ti)
                    continue
                tar.add(path, arcname=arc, recursive=False)
                if stat.S_ISDIR(st.st_mode):
                    try:
                        opaque = os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
                    except OSError:
                        opaque = False
                    if opaque:
                        ti = tarfile.TarInfo(f"{arc}/.wh..wh..opq")
                        ti.mtime = int(st.st_mtime)
                        tar.addfile(ti)


class LayerStore:
    def __init__(self, data_root: str) -> None:
        self.root = os.path.join(data_root, "image")
        self.layers_dir = os.path.join(self.root, "layers")
        self.configs_dir = os.path.join(self.root, "configs")
        self.tmp_dir = os.path.join(self.root, "tmp")
        for d in (self.layers_dir, self.configs_dir):
            os.makedirs(d, exist_ok=True)
        # Anything in tmp/ is a leftover of a crash mid-load.
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        os.makedirs(self.tmp_dir, exist_ok=True)
        self._sizes: dict[str, int] = {}

    # --- staging ---------------------------------------------------------
    def staging_dir(self) -> str:
        return tempfile.mkdtemp(dir=self.tmp_dir)

    def staging_file(self) -> str:
        fd, path = tempfile.mkstemp(dir=self.tmp_dir)
        os.close(fd)
        return path

    def discard(self, path: str) -> None:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    # --- layers ----------------------------------------------------------
    def add_layer(self, path: str, progress: Progress | None = None) -> LayerInfo:
        """Ingest a layer tar (plain or compressed); returns its diff ID and content size.

        Decompression, the diff ID's hash, the `layer.tar` copy and the extraction are one
        pass. The layer appears under its diff ID only once complete (rename); anything
        failing (a hostile or corrupt tar, `progress` raising to cancel) leaves nothing.
        """
        stage = self.staging_dir()
        try:
            tar_path = os.path.join(stage, "layer.tar")
            diff = os.path.join(stage, "diff")
            os.mkdir(diff, 0o755)
            raw = open(path, "rb")
            with decompressing(raw) as src, open(tar_path, "wb") as out:
                tee = _Tee(src, out, raw, progress)
                size = tarsafe.extract(typing.cast(IO[bytes], tee), diff, hook=whiteout_hook)
                tee.drain()
            diff_id = "sha256:" + tee.hash.hexdigest()
            final = os.path.join(self.layers_dir, tee.hash.hexdigest())
            if os.path.isdir(final):
                return LayerInfo(diff_id, self.layer_size(diff_id))
            with open(os.path.join(stage, "size"), "w") as f:
                f.write(str(size))
            try:
                os.rename(stage, final)
            except OSError:
                if not os.path.isdir(final):  # not a concurrent ingest of the same layer
                    raise
            else:
                stage = ""
            return LayerInfo(diff_id, size)
        except OSError as e:
            if e.errno in HOST_FAULTS:  # a full disk is the host's fault, not the archive's
                raise host_fault(e, "failed to register layer") from e
            raise InvalidParameter(f"invalid layer archive: {e}") from e
        except _bad_stream() as e:
            raise InvalidParameter(f"invalid layer archive: {e}") from e
        finally:
            if stage:
                self.discard(stage)

    def blob_writer(self, path: str) -> BlobWriter:
        """A download's destination: bytes written go to `path` and into a sha256."""
        return BlobWriter(path)

    def gzip_layer(self, diff_id: str) -> GzipLayer:
        """The stored layer tar, gzip-compressed for a push (deterministic: no name, no mtime)."""
        return GzipLayer(self.layer_tar(diff_id))

    def has_layer(self, diff_id: str) -> bool:
        return os.path.isdir(os.path.join(self.layers_dir, _hex(diff_id)))

    def layer_dir(self, diff_id: str) -> str:
        return os.path.join(self.layers_dir, _hex(diff_id), "diff")

    def layer_tar(self, diff_id: str) -> str:
        return os.path.join(self.layers_dir, _hex(diff_id), "layer.tar")

    def layer_size(self, diff_id: str) -> int:
        # Cached: the engine asks for sizes while listing, on the event loop.
        hexd = _hex(diff_id)
        if hexd not in self._sizes:
            try:
                with open(os.path.join(self.layers_dir, hexd, "size")) as f:
                    self._sizes[hexd] = int(f.read().strip() or 0)
            except (OSError, ValueError):
                return 0
        return self._sizes[hexd]

    def remove_layer(self, diff_id: str) -> None:
        d = os.path.join(self.layers_dir, _hex(diff_id))
        if not os.path.isdir(d):
            return
        # Rename first so a half-removed layer never looks present.
        self._sizes.pop(_hex(diff_id), None)
        trash = os.path.join(self.tmp_dir, "rm-" + _hex(diff_id))
        os.rename(d, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def list_layers(self) -> list[str]:
        return ["sha256:" + n for n in os.listdir(self.layers_dir) if len(n) == 64]

    # --- configs ---------------------------------------------------------
    def list_configs(self) -> list[str]:
        return ["sha256:" + n[:-5] for n in os.listdir(self.configs_dir) if n.endswith(".json") and len(n) == 69]

    def put_config(self, data: bytes) -> str:
        hexid = hashlib.sha256(data).hexdigest()
        path = os.path.join(self.configs_dir, hexid + ".json")
        if not os.path.exists(path):
            fd, tmp = tempfile.mkstemp(dir=self.tmp_dir)  # unique: concurrent loads of one image
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.chmod(tmp, 0o600)
                os.replace(tmp, path)
            except OSError as e:
                self.discard(tmp)
                raise host_fault(e, f"write {path}") from e
        return "sha256:" + hexid

    def get_config(self, image_id: str) -> bytes:
        try:
            with open(os.path.join(self.configs_dir, _hex(image_id) + ".json"), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise NotFound(f"No such image: {image_id}") from None

    def remove_config(self, image_id: str) -> None:
        try:
            os.unlink(os.path.join(self.configs_dir, _hex(image_id) + ".json"))
        except FileNotFoundError:
            pass

    def diff_tar(self, upper_dir: str) -> str:
        """The upper dir as a layer tar in a staging file (AUFS whiteouts); for docker commit."""
        path = self.staging_file()
        try:
            tar_diff(upper_dir, path)
        except OSError as e:
            self.discard(path)
            if e.errno in HOST_FAULTS:
                raise host_fault(e, f"write {path}") from e
            raise
        except BaseException:
            self.discard(path)
            raise
        return path

    # --- archives (docker load / docker save) ------------------------------
    def load_archive(self, path: str) -> list[ArchiveImage]:
        """Unpack a `docker save` archive or an OCI image layout; ingest its layers and configs."""
        from shim.runtime import image_archive

        stage = self.staging_dir()
        try:
            with open_decompressed(path) as f:
                tarsafe.extract(f, stage, same_owner=False)
            images = image_archive.read(stage)
            for img in images:
                diff_ids = []
                for _i, layer_path in enumerate(img.layer_paths):
                    info = self.add_layer(layer_path)
                    diff_ids.append(info.diff_id)
                image_archive.check_diff_ids(img.config, diff_ids)
                img.image_id = self.put_config(img.config)
                img.diff_ids = diff_ids
                img.layer_paths = []
            return images
        except OSError as e:
            if e.errno in HOST_FAULTS:
                raise host_fault(e, "failed to unpack the archive") from e
            raise InvalidParameter(f"invalid archive: {e}") from e
        except (EOFError, gzip.BadGzipFile, lzma.LZMAError) as e:
            raise InvalidParameter(f"invalid archive: {e}") from e
        finally:
            self.discard(stage)

    def save_archive(self, out_path: str, images: list[ArchiveImage]) -> None:
        from shim.runtime import image_archive

        image_archive.write(out_path, images, self.layer_tar)


class BlobWriter:
    """Blocking sink for a blob being downloaded: the file plus its running sha256."""

    def __init__(self, path: str) -> None:
        self._f = open(path, "wb")
        self._h = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self._h.update(data)
        self._f.write(data)
        self.size += len(data)

    def close(self) -> str:
        """Closes the file; returns the digest of everything written."""
        self._f.close()
        return "sha256:" + self._h.hexdigest()


class GzipLayer:
    """A layer tar gzip-compressed on the fly for an upload.

    chunks() yields (compressed bytes, uncompressed bytes consumed so far); once exhausted,
    `digest` and `size` describe the compressed blob. Level 6 and a header without name or
    mtime: the same layer always compresses to the same blob here.
    """

    def __init__(self, tar_path: str) -> None:
        self.tar_path = tar_path
        self.digest = ""
        self.size = 0

    def chunks(self) -> Iterator[tuple[bytes, int]]:
        h = hashlib.sha256()
        out = _Collector()
        consumed = 0
        with (
            open(self.tar_path, "rb") as src,
            gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=6, mtime=0) as gz,
        ):
            while True:
                data = src.read(CHUNK)
                if not data:
                    break
                consumed += len(data)
                gz.write(data)
                chunk = out.take()
                if chunk:
                    h.update(chunk)
                    self.size += len(chunk)
                    yield chunk, consumed
        chunk = out.take()
        h.update(chunk)
        self.size += len(chunk)
        self.digest = "sha256:" + h.hexdigest()
        if chunk:
            yield chunk, consumed


class _Collector:
    """A write-only file object that hands out what was written since the last take()."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data
