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
import tarfile
import tempfile
from collections.abc import Callable
from typing import IO

from shim.engine.ports import ArchiveImage, LayerInfo
from shim.errors import InvalidParameter, NotFound
from shim.runtime import tarsafe

CHUNK = 1 << 20


def _hex(digest: str) -> str:
    return digest.split(":", 1)[1] if ":" in digest else digest


def open_decompressed(path: str) -> IO[bytes]:
    """The file as an uncompressed stream, whatever compression its magic bytes announce."""
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic[:2] == b"\x1f\x8b":
        return gzip.open(path, "rb")
    if magic[:3] == b"BZh":
        return bz2.open(path, "rb")
    if magic[:6] == b"\xfd7zXZ\x00":
        return lzma.open(path, "rb")
    if magic[:4] == b"\x28\xb5\x2f\xfd":
        raise InvalidParameter("unsupported layer compression: zstd")
    return open(path, "rb")


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
    def add_layer(self, path: str) -> LayerInfo:
        """Ingest a layer tar (plain or compressed); returns its diff ID and content size."""
        stage = self.staging_dir()
        try:
            tar_path = os.path.join(stage, "layer.tar")
            h = hashlib.sha256()
            with open_decompressed(path) as src, open(tar_path, "wb") as out:
                while True:
                    chunk = src.read(CHUNK)
                    if not chunk:
                        break
                    h.update(chunk)
                    out.write(chunk)
            diff_id = "sha256:" + h.hexdigest()
            final = os.path.join(self.layers_dir, h.hexdigest())
            if os.path.isdir(final):
                return LayerInfo(diff_id, self.layer_size(diff_id))
            diff = os.path.join(stage, "diff")
            os.mkdir(diff, 0o755)
            with open(tar_path, "rb") as f:
                size = tarsafe.extract(f, diff, hook=whiteout_hook)
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
        except (OSError, EOFError, lzma.LZMAError, gzip.BadGzipFile) as e:
            raise InvalidParameter(f"invalid layer archive: {e}") from e
        finally:
            if stage:
                self.discard(stage)

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
    def put_config(self, data: bytes) -> str:
        hexid = hashlib.sha256(data).hexdigest()
        path = os.path.join(self.configs_dir, hexid + ".json")
        if not os.path.exists(path):
            fd, tmp = tempfile.mkstemp(dir=self.tmp_dir)  # unique: concurrent loads of one image
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
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
        except (OSError, EOFError, gzip.BadGzipFile, lzma.LZMAError) as e:
            raise InvalidParameter(f"invalid archive: {e}") from e
        finally:
            self.discard(stage)

    def save_archive(self, out_path: str, images: list[ArchiveImage]) -> None:
        from shim.runtime import image_archive

        image_archive.write(out_path, images, self.layer_tar)
