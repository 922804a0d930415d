"""ImageService against a real LayerStore and Store in a temporary data root."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest

from shim.engine.images import ImageService
from shim.engine.store import Store
from shim.errors import Conflict, InvalidParameter, NotFound
from shim.runtime.layers import LayerStore

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "build" / "busybox.tar"


class FakeEvents:
    def __init__(self):
        self.seen = []

    def publish(self, type_, action, actor_id, attributes=None):
        self.seen.append((type_, action, actor_id, dict(attributes or {})))


def tar_bytes(entries) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in entries:
            ti = tarfile.TarInfo(name)
            if data is None:
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
                tar.addfile(ti)
            else:
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def image_config(diff_ids, labels=None) -> bytes:
    return json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2025-01-02T03:04:05.123456789Z",
            "config": {"Cmd": ["sh"], "Labels": labels},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()


def docker_archive(layers: list[bytes], tags, labels=None, compress=False) -> bytes:
    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    cfg = image_config(diff_ids, labels)
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
    files = [(cfg_name, cfg)]
    names = []
    for i, layer in enumerate(layers):
        names.append(f"l{i}/layer.tar")
        files.append((f"l{i}/layer.tar", gzip.compress(layer) if compress else layer))
    files.append(("manifest.json", json.dumps([{"Config": cfg_name, "RepoTags": tags, "Layers": names}]).encode()))
    return tar_bytes(files)


def oci_layout(layer: bytes, ref_name: str) -> bytes:
    gz = gzip.compress(layer)
    diff = "sha256:" + hashlib.sha256(layer).hexdigest()
    cfg = image_config([diff])
    blobs = {}

    def put(data: bytes) -> str:
        d = hashlib.sha256(data).hexdigest()
        blobs[f"blobs/sha256/{d}"] = data
        return "sha256:" + d

    cfg_d, layer_d = put(cfg), put(gz)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"digest": cfg_d, "size": len(cfg)},
            "layers": [
                {"digest": layer_d, "size": len(gz), "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"}
            ],
        }
    ).encode()
    man_d = put(manifest)
    index = json.dumps(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": man_d,
                    "size": len(manifest),
                    "annotations": {
                        "io.containerd.image.name": ref_name,
                        "org.opencontainers.image.ref.name": "latest",
                    },
                }
            ],
        }
    )
    return tar_bytes(
        [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index.encode()), *blobs.items()]
    )


async def chunks(data: bytes):
    for i in range(0, len(data), 7000):
        yield data[i : i + 7000]


@pytest.fixture
async def svc(tmp_path):
    s = ImageService(store=Store(tmp_path), layers=LayerStore(str(tmp_path)), events=FakeEvents())
    await s.restore()
    return s


async def load_busybox(svc):
    return await svc.load(chunks(FIXTURE.read_bytes()))


def fixture_id() -> str:
    return (FIXTURE.parent / "busybox.tar.id").read_text().strip()


async def test_load_fixture_and_resolve(svc, tmp_path):
    assert await load_busybox(svc) == ["Loaded image: busybox:latest\n"]
    img = svc.get("busybox")
    assert img.id == fixture_id()
    for ref in (
        "busybox:latest",
        "docker.io/library/busybox",
        img.id,
        img.id[7:],
        img.id[7:19],
        "sha256:" + img.id[7:12],
    ):
        assert svc.get(ref).id == img.id
    ci = svc.image_for_container("busybox")
    assert ci.config["Cmd"] == ["sh"]
    assert len(ci.layer_dirs) == 1 and os.path.isfile(os.path.join(ci.layer_dirs[0], "bin/busybox"))
    assert os.readlink(os.path.join(ci.layer_dirs[0], "bin/sh")) == "/bin/busybox"
    assert os.stat(os.path.join(ci.layer_dirs[0], "tmp")).st_mode & 0o7777 == 0o1777
    # Survives a restart.
    again = ImageService(store=Store(tmp_path), layers=LayerStore(str(tmp_path)), events=FakeEvents())
    await again.restore()
    assert again.get("busybox").id == img.id and again.get("busybox").size == img.size


async def test_no_such_image_wording(svc):
    with pytest.raises(NotFound, match=r"^No such image: busybox:nope$"):
        svc.get("busybox:nope")
    with pytest.raises(NotFound, match="No such image: nosuch:latest"):
        svc.get("nosuch")
    with pytest.raises(InvalidParameter, match="lowercase"):
        svc.get("NoSuch")


async def test_untagged_and_gzip_layers_and_oci(svc):
    layer = tar_bytes([("hello", b"hi")])
    lines = await svc.load(chunks(docker_archive([layer], None, compress=True)))
    assert lines[0].startswith("Loaded image ID: sha256:")
    lines = await svc.load(chunks(oci_layout(tar_bytes([("oci", b"x")]), "docker.io/library/ocitest:1")))
    assert lines == ["Loaded image: ocitest:1\n"]
    assert svc.get("ocitest:1").diff_ids[0] == "sha256:" + hashlib.sha256(tar_bytes([("oci", b"x")])).hexdigest()


async def test_whiteouts_become_overlay_form(svc):
    layer = tar_bytes([("d", None), ("d/.wh.gone", b""), ("o", None), ("o/.wh..wh..opq", b"")])
    await svc.load(chunks(docker_archive([tar_bytes([("base", b"1")]), layer], ["wh:1"])))
    top = svc.image_for_container("wh:1").layer_dirs[-1]
    st = os.lstat(os.path.join(top, "d/gone"))
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 0 and os.minor(st.st_rdev) == 0
    assert os.getxattr(os.path.join(top, "o"), "trusted.overlay.opaque") == b"y"


async def test_hostile_load_leaves_nothing(svc, tmp_path):
    bad_layer = tar_bytes([("ok", b"1"), ("../../escape", b"x")])
    with pytest.raises(InvalidParameter):
        await svc.load(chunks(docker_archive([bad_layer], ["evil:1"])))
    outer = tar_bytes([("../evil", b"x")])
    with pytest.raises(InvalidParameter):
        await svc.load(chunks(outer))
    manifest_escape = tar_bytes(
        [
            (
                "manifest.json",
                json.dumps([{"Config": "../../../../etc/passwd", "RepoTags": ["x:1"], "Layers": []}]).encode(),
            )
        ]
    )
    with pytest.raises(InvalidParameter):
        await svc.load(chunks(manifest_escape))
    assert svc.all() == []
    image_root = tmp_path / "image"
    assert os.listdir(image_root / "layers") == [] and os.listdir(image_root / "configs") == []
    assert os.listdir(image_root / "tmp") == []
    assert not (tmp_path / "escape").exists() and not (tmp_path.parent / "escape").exists()


async def test_diff_id_mismatch_refused(svc):
    arch = docker_archive([tar_bytes([("a", b"1")])], ["m:1"])
    # Swap the layer for another one: the config's diff_ids no longer match.
    buf = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(arch)) as src, tarfile.open(fileobj=buf, mode="w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()
            if m.name.endswith("layer.tar"):
                data = tar_bytes([("b", b"2")])
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data))
    with pytest.raises(InvalidParameter, match="invalid diffID"):
        await svc.load(chunks(buf.getvalue()))


async def test_tag_moves_and_rmi(svc):
    await load_busybox(svc)
    await svc.load(chunks(docker_archive([tar_bytes([("x", b"1")])], ["other:1"])))
    await svc.tag("busybox", "docker.io/library/rectag", "1")
    await svc.tag("busybox", "recimport:2", "")
    assert svc.get("rectag:1").id == svc.get("busybox").id
    await svc.tag("other:1", "rectag", "1")  # the tag moves
    assert svc.get("rectag:1").id == svc.get("other:1").id
    bb = svc.get("busybox")
    with pytest.raises(Conflict, match=r"\(must be forced\) - image is referenced in multiple repositories"):
        await svc.remove(bb.id[7:19])
    assert await svc.remove("recimport:2") == [{"Untagged": "recimport:2"}]
    recs = await svc.remove(bb.id[7:19])  # one reference left: untag and delete
    assert recs[0] == {"Untagged": "busybox:latest"} and recs[1] == {"Deleted": bb.id}
    assert {"Deleted": bb.diff_ids[0]} in recs
    with pytest.raises(NotFound):
        svc.get("busybox")


async def test_rmi_conflicts_with_containers(svc):
    await load_busybox(svc)
    img = svc.get("busybox")
    users = {"state": [("c" * 64, True)]}
    svc.set_usage(lambda image_id: users["state"] if image_id == img.id else [])
    with pytest.raises(
        Conflict,
        match=f"unable to delete {img.id[7:19]} \\(cannot be forced\\) - image is being "
        f"used by running container cccccccccccc",
    ):
        await svc.remove(img.id, force=True)
    with pytest.raises(Conflict, match='unable to remove repository reference "busybox" \\(must force\\)'):
        await svc.remove("busybox")
    users["state"] = [("d" * 64, False)]
    with pytest.raises(Conflict, match="must be forced\\) - image is being used by stopped container dddddddddddd"):
        await svc.remove(img.id)
    # Forced removal of the last tag while a running container uses it: only the tag goes.
    users["state"] = [("c" * 64, True)]
    assert await svc.remove("busybox", force=True) == [{"Untagged": "busybox:latest"}]
    assert svc.get(img.id)
    recs, _ = await svc.prune({"dangling": ["true"]})
    assert recs == []  # in use: never pruned
    users["state"] = []
    recs, reclaimed = await svc.prune({})
    assert recs[0] == {"Deleted": img.id} and reclaimed == img.size


async def test_prune_dangling_and_labels(svc):
    await svc.load(chunks(docker_archive([tar_bytes([("a", b"1")])], None, labels={"rec": "1"})))
    await svc.load(chunks(docker_archive([tar_bytes([("b", b"2")])], None)))
    await svc.load(chunks(docker_archive([tar_bytes([("c", b"3")])], ["keep:1"])))
    recs, _ = await svc.prune({"dangling": ["true"], "label": ["rec=1"]})
    assert len([r for r in recs if "Deleted" in r]) == 2  # the image and its layer
    recs, _ = await svc.prune({"dangling": ["true"]})
    assert len(svc.all()) == 1
    recs, _ = await svc.prune({"dangling": ["false"]})
    assert recs[0] == {"Untagged": "keep:1"} and svc.all() == []


async def test_list_filters(svc):
    await load_busybox(svc)
    await svc.tag("busybox", "alpine", "3.10")
    await svc.load(chunks(docker_archive([tar_bytes([("a", b"1")])], None, labels={"rec": "1"})))
    assert [t for _, t in svc.list(filters={"reference": ["busybox"]})] == [["busybox:latest"]]
    assert len(svc.list()) == 2
    assert [i.repo_tags for i, _ in svc.list(filters={"dangling": ["true"]})] == [[]]
    assert len(svc.list(filters={"label": ["rec=1"]})) == 1
    assert len(svc.list(filters={"label": ["rec=2"]})) == 0
    assert len(svc.list(filters={"before": ["busybox"]})) == 0
    assert len(svc.list(filters={"since": ["busybox"]})) == 1
    with pytest.raises(InvalidParameter):
        svc.list(filters={"bogus": ["1"]})


async def test_save_roundtrip_same_id(svc, tmp_path):
    await load_busybox(svc)
    data = b"".join([c async for c in await svc.save(["busybox"])])
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
    assert manifest[0]["RepoTags"] == ["busybox:latest"]
    other = ImageService(store=Store(tmp_path / "b"), layers=LayerStore(str(tmp_path / "b")), events=FakeEvents())
    assert await other.load(chunks(data)) == ["Loaded image: busybox:latest\n"]
    assert other.get("busybox").id == svc.get("busybox").id
    assert os.listdir(tmp_path / "image" / "tmp") == []  # the spooled archive is gone
    with pytest.raises(NotFound):
        await svc.save(["busybox", "nosuch"])


async def test_import_with_changes(svc):
    rootfs = tar_bytes([("bin", None), ("bin/x", b"x")])
    image_id = await svc.import_image(
        chunks(rootfs),
        repo="recimport:1",
        changes=[
            'CMD ["sh"]',
            "ENV A=1 B=2",
            "EXPOSE 80",
            "WORKDIR /w",
            "LABEL k=v",
            "USER nobody",
            "ENTRYPOINT /bin/x",
            "VOLUME /data",
        ],
    )
    img = svc.get("recimport:1")
    assert img.id == image_id
    c = img.container_config
    assert c["Cmd"] == ["sh"] and c["Env"] == ["A=1", "B=2"] and c["ExposedPorts"] == {"80/tcp": {}}
    assert c["WorkingDir"] == "/w" and c["Labels"] == {"k": "v"} and c["User"] == "nobody"
    assert c["Entrypoint"] == ["/bin/sh", "-c", "/bin/x"] and c["Volumes"] == {"/data": {}}
    assert img.config["comment"] == "Imported from -"
    with pytest.raises(InvalidParameter, match="run is not a valid change command"):
        await svc.import_image(chunks(rootfs), changes=["RUN true"])


async def test_history(svc):
    await load_busybox(svc)
    h = svc.history("busybox")
    assert h[0]["id"] == svc.get("busybox").id and h[0]["tags"] == ["busybox:latest"]
    assert h[0]["size"] == 0 and h[1]["size"] == svc.get("busybox").size and h[1]["id"] == "<missing>"


async def test_commit_from_upper_dir_keeps_whiteouts(svc, tmp_path):
    from shim.runtime.layers import tar_diff

    await load_busybox(svc)
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc/new").write_text("n")
    os.mknod(upper / "etc/passwd", stat.S_IFCHR | 0o600, os.makedev(0, 0))  # deleted in the container
    (upper / "tmp").mkdir()
    os.setxattr(upper / "tmp", "trusted.overlay.opaque", b"y")
    out = tmp_path / "diff.tar"
    tar_diff(str(upper), str(out))
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert "etc/.wh.passwd" in names and "tmp/.wh..wh..opq" in names and "etc/new" in names
    new_id = await svc.commit(
        layer_tar=str(out),
        parent_id=svc.get("busybox").id,
        config=svc.get("busybox").container_config,
        repo="committed",
        tag="1",
        changes=["ENV X=1"],
        author="me",
        comment="msg",
    )
    img = svc.get("committed:1")
    assert img.id == new_id and img.parent == svc.get("busybox").id and len(img.diff_ids) == 2
    assert "X=1" in img.container_config["Env"] and img.container_config["Cmd"] == ["sh"]
    top = svc.image_for_container("committed:1").layer_dirs[-1]
    assert stat.S_ISCHR(os.lstat(os.path.join(top, "etc/passwd")).st_mode)
    assert not out.exists()  # consumed
    with pytest.raises(Conflict, match="image has dependent child images"):
        await svc.remove(svc.get("busybox").id, force=True)
    recs = await svc.remove("committed:1")
    assert recs[:2] == [{"Untagged": "committed:1"}, {"Deleted": new_id}]


async def test_force_rmi_keeps_layers_a_stopped_container_uses(svc):
    await load_busybox(svc)
    img = svc.get("busybox")
    dirs = svc.image_for_container("busybox").layer_dirs
    svc.set_usage(lambda image_id: [("e" * 64, False)] if image_id == img.id else [])
    recs = await svc.remove("busybox", force=True)
    assert {"Deleted": img.id} in recs and {"Deleted": img.diff_ids[0]} not in recs
    assert all(os.path.isdir(d) for d in dirs)


async def test_load_over_an_existing_tag_renames_the_old_image(svc):
    await svc.load(chunks(docker_archive([tar_bytes([("a", b"1")])], ["same:1"])))
    old = svc.get("same:1").id
    lines = await svc.load(chunks(docker_archive([tar_bytes([("b", b"2")])], ["same:1"])))
    assert lines == [
        f"The image same:1 already exists, renaming the old one with ID {old} to empty string\n",
        "Loaded image: same:1\n",
    ]
    assert svc.get(old).repo_tags == [] and svc.get("same:1").id != old


async def test_start_removes_layers_and_configs_a_crash_left_unreferenced(tmp_path):
    """A load cut after its layers (or a removal after its record): the files go at the next start,
    except a layer a container still stacks on and everything of a recorded image."""
    svc = ImageService(store=Store(tmp_path), layers=LayerStore(str(tmp_path)), events=FakeEvents())
    await svc.restore()
    await svc.load(chunks(docker_archive([tar_bytes([("kept", b"k")])], ["kept:1"])))
    layers = svc._layers
    stray = tar_bytes([("stray", b"s")])
    held = tar_bytes([("held", b"h")])
    for data in (stray, held):
        path = layers.staging_file()
        Path(path).write_bytes(data)
        layers.add_layer(path)
    stray_cfg = layers.put_config(b'{"stray": true}')
    held_dir = layers.layer_dir("sha256:" + hashlib.sha256(held).hexdigest())

    again = ImageService(store=Store(tmp_path), layers=LayerStore(str(tmp_path)), events=FakeEvents())
    again.set_layer_usage(lambda: {held_dir})
    await again.restore()
    await again.after_restore()
    img = again.resolve("kept:1")
    left = set(again._layers.list_layers())
    assert left == {*img.diff_ids, "sha256:" + hashlib.sha256(held).hexdigest()}
    assert again._layers.list_configs() == [img.id] and stray_cfg != img.id


async def test_an_unreadable_image_record_keeps_every_layer(tmp_path):
    svc = ImageService(store=Store(tmp_path), layers=LayerStore(str(tmp_path)), events=FakeEvents())
    await svc.restore()
    await svc.load(chunks(docker_archive([tar_bytes([("a", b"a")])], ["a:1"])))
    (tmp_path / "db" / "images" / ("f" * 64 + ".json")).write_text("{torn")
    path = svc._layers.staging_file()
    Path(path).write_bytes(tar_bytes([("stray", b"s")]))
    svc._layers.add_layer(path)
    again = ImageService(store=Store(tmp_path), layers=LayerStore(str(tmp_path)), events=FakeEvents())
    await again.restore()
    await again.after_restore()
    assert len(again._layers.list_layers()) == 2
