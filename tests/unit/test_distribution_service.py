"""The pull and push orchestration (engine/distribution) against an in-memory registry and a real
layer store on a temp data root: progress facts in dockerd's order, what ends up in the store,
and what a hostile or failing registry leaves behind (nothing)."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from shim.engine.distribution import manifest as mf
from shim.engine.distribution.blobindex import BlobIndex
from shim.engine.distribution.service import DistributionService
from shim.engine.events import Events
from shim.engine.imageports import RegistryAuth
from shim.engine.images import ImageService
from shim.engine.store import Store
from shim.errors import InvalidParameter, NotFound, ShimError, Unauthorized
from shim.filters import Filters
from shim.runtime.layers import LayerStore
from tests.registry_fakes import FakeRegistry, digest_of, layer_tar

HOST = "reg.test:5000"


@pytest.fixture
async def env(tmp_path):
    store, events = Store(tmp_path), Events()
    layers = LayerStore(str(tmp_path))
    images = ImageService(store=store, layers=layers, events=events, host_arch="amd64")
    reg = FakeRegistry()
    svc = DistributionService(
        images=images, layers=layers, registry=reg, blobs=BlobIndex(store), host_arch="amd64", max_downloads=3
    )
    await svc.restore()
    yield svc, reg, images, layers, events
    await svc.close()


async def run(agen):
    return [p async for p in agen]


def lines(facts):
    out = []
    for p in facts:
        if p.aux is not None:
            out.append(f"aux {p.aux.tag} {p.aux.digest} {p.aux.size}")
        else:
            out.append(f"{p.id + ': ' if p.id else ''}{p.message or p.action}")
    return out


def two_layers():
    return [layer_tar({"a.txt": b"A" * 2000}), layer_tar({"etc/b.txt": b"B" * 300_000, "bin/x": os.urandom(900_000)})]


async def test_pull_reports_dockerd_progress_and_registers_tag_and_digest(env):
    svc, reg, images, layers, events = env
    ls = two_layers()
    meta = reg.add_image("app", "1", ls)
    facts = await run(svc.pull(f"{HOST}/app", "1", "", RegistryAuth()))
    text = lines(facts)
    ids = [digest_of(b)[7:19] for b, _ in ls]
    assert text[0] == "1: Pulling from app"
    assert text[-2:] == [f"Digest: {meta['manifest']}", f"Status: Downloaded newer image for {HOST}/app:1"]
    for i in ids:
        mine = [t.split(": ", 1)[1] for t in text if t.startswith(i)]
        assert mine[0] == "Pulling fs layer" and mine[-1] == "Pull complete"
        for step in ("Downloading", "Verifying Checksum", "Download complete", "Extracting"):
            assert step in mine
        assert mine.index("Download complete") < mine.index("Extracting")
    big = [p for p in facts if p.action == "Downloading" and p.id == ids[1]]
    assert big[-1].current == big[-1].total == len(ls[1][0]) and len(big) >= 2  # updates every 512 KiB
    img = images.get(f"{HOST}/app:1")
    assert img.id == meta["config"] and img.diff_ids == [d for _, d in ls]
    assert img.repo_digests == [f"{HOST}/app@{meta['manifest']}"]
    assert all(layers.has_layer(d) for _, d in ls)
    # the second pull: nothing to download, the same Digest, "up to date"
    again = lines(await run(svc.pull(f"{HOST}/app", "1", "", RegistryAuth())))
    assert again == [
        "1: Pulling from app",
        f"Digest: {meta['manifest']}",
        f"Status: Image is up to date for {HOST}/app:1",
    ]
    pulls = [e for e in events._ring if e["Action"] == "pull"]
    assert pulls[-1]["Actor"]["ID"] == f"{HOST}/app:1" and pulls[-1]["Actor"]["Attributes"]["name"] == f"{HOST}/app"


async def test_layers_already_in_the_store_are_not_downloaded(env):
    svc, reg, _images, *_ = env
    base, top = two_layers()
    reg.add_image("base", "1", [base])
    await run(svc.pull(f"{HOST}/base", "1", "", RegistryAuth()))
    reg.add_image("child", "1", [base, top])
    reg.log.clear()
    text = lines(await run(svc.pull(f"{HOST}/child", "1", "", RegistryAuth())))
    assert f"{digest_of(base[0])[7:19]}: Already exists" in text
    assert ("blob", "child", digest_of(base[0])) not in reg.log


async def test_pull_by_digest_and_waiting_beyond_the_download_limit(env):
    svc, reg, images, *_ = env
    svc.max_downloads = 1
    ls = [layer_tar({f"f{i}": bytes([i]) * 100}) for i in range(3)]
    meta = reg.add_image("many", "1", ls)
    text = lines(await run(svc.pull(f"{HOST}/many", meta["manifest"], "", RegistryAuth())))
    assert text[0] == f"{meta['manifest']}: Pulling from many"
    assert sum(t.endswith("Waiting") for t in text) == 2
    assert text[-1] == f"Status: Downloaded newer image for {HOST}/many@{meta['manifest']}"
    img = images.get(f"{HOST}/many@{meta['manifest']}")
    assert img.repo_tags == [] and img.repo_digests == [f"{HOST}/many@{meta['manifest']}"]


async def test_index_picks_the_platform_asked_and_names_a_missing_one(env):
    svc, reg, images, *_ = env
    (blob, diff) = two_layers()[0]
    amd = reg.add_image("multi", "amd", [(blob, diff)], arch="amd64")
    arm = reg.add_image("multi", "arm", [(blob, diff)], arch="arm64")
    reg.add_index("multi", "1", [("amd", "linux", "amd64"), ("arm", "linux", "arm64")])
    await run(svc.pull(f"{HOST}/multi", "1", "linux/arm64", RegistryAuth()))
    assert images.get(f"{HOST}/multi:1").id == arm["config"]
    await run(svc.pull(f"{HOST}/multi", "1", "", RegistryAuth()))  # the daemon's own platform
    assert images.get(f"{HOST}/multi:1").id == amd["config"]
    with pytest.raises(ShimError, match="no matching manifest for linux/s390x in the manifest list entries"):
        await run(svc.pull(f"{HOST}/multi", "1", "linux/s390x", RegistryAuth()))


async def test_errors_before_the_stream_are_plain_and_dockerd_worded(env):
    svc, reg, *_ = env
    gen = svc.pull(f"{HOST}/nosuch", "latest", "", RegistryAuth())
    with pytest.raises(
        NotFound, match=rf"^manifest for {HOST}/nosuch:latest not found: manifest unknown: manifest unknown$"
    ):
        await gen.__anext__()
    with pytest.raises(InvalidParameter, match="invalid reference format"):
        await svc.pull("Upper", "", "", RegistryAuth()).__anext__()
    reg.users = {"alice": "pw"}
    with pytest.raises(Unauthorized, match="authentication required"):
        await svc.pull(f"{HOST}/x", "1", "", RegistryAuth()).__anext__()


async def test_schema1_is_refused(env):
    svc, reg, *_ = env
    from tests.registry_fakes import Repo

    reg.repos["old"] = Repo(
        manifests={"1": (json.dumps({"schemaVersion": 1, "fsLayers": []}).encode(), mf.SCHEMA1_SIGNED)}
    )
    with pytest.raises(InvalidParameter, match="Docker Image manifest version 2, schema 1 support is disabled"):
        await run(svc.pull(f"{HOST}/old", "1", "", RegistryAuth()))


@pytest.mark.parametrize("fault", ["corrupt", "endless"])
async def test_a_bad_blob_fails_the_pull_and_leaves_nothing(env, fault, tmp_path):
    svc, reg, images, layers, _ = env
    good, bad = two_layers()
    reg.add_image("bad", "1", [good, bad])
    getattr(reg, fault).add(digest_of(bad[0]))
    with pytest.raises(ShimError, match=r"verification failed|larger than the"):
        await run(svc.pull(f"{HOST}/bad", "1", "", RegistryAuth()))
    assert images.count() == 0
    assert layers.list_layers() == []  # not even the good layer: no image uses it
    assert os.listdir(layers.tmp_dir) == []  # no staging left


async def test_a_huge_config_is_refused_without_download(env):
    svc, reg, _images, *_ = env
    meta = reg.add_image("huge", "1", [two_layers()[0]])
    doc = json.loads(meta["raw"])
    doc["config"]["size"] = 10 << 30
    raw = json.dumps(doc).encode()
    reg.repos["huge"].manifests["1"] = (raw, mf.DOCKER_MANIFEST)
    with pytest.raises(ShimError, match="too large"):
        await run(svc.pull(f"{HOST}/huge", "1", "", RegistryAuth()))
    assert ("blob", "huge", meta["config"]) not in reg.log


async def test_a_cancelled_pull_stops_downloads_and_leaves_no_layer(env):
    svc, reg, images, layers, _ = env
    reg.gate = asyncio.Event()  # blobs stall after their first chunk
    small, big = two_layers()
    reg.add_image("slow", "1", [small, big])
    gen = svc.pull(f"{HOST}/slow", "1", "", RegistryAuth())
    seen = []
    async for p in gen:
        seen.append(p)
        if p.action == "Pull complete":  # the small layer is in; the big one is mid-download
            break
    await gen.aclose()  # what the API does when the client goes away
    assert all(b.closed for b in reg.opened)
    assert images.count() == 0 and layers.list_layers() == []
    assert os.listdir(layers.tmp_dir) == []


async def test_mirror_falls_back_to_the_origin(env):
    svc, reg, _images, *_ = env
    reg.mirror_host = "mirror.test"
    reg.unreachable.add("mirror.test")
    reg.add_image("library/hubonly", "latest", [two_layers()[0]])
    text = lines(await run(svc.pull("hubonly", "latest", "", RegistryAuth())))
    assert text[0] == "latest: Pulling from library/hubonly"
    assert text[-1] == "Status: Downloaded newer image for hubonly:latest"


async def test_push_uploads_then_reuses_then_mounts(env):
    svc, reg, images, _layers, events = env
    ls = two_layers()
    reg.add_image("src", "1", ls)
    await run(svc.pull(f"{HOST}/src", "1", "", RegistryAuth()))
    await images.tag(f"{HOST}/src:1", f"{HOST}/dst", "2")
    text = lines(await run(svc.push(f"{HOST}/dst", "2", RegistryAuth())))
    diff_short = [d[7:19] for _, d in ls]
    assert text[0] == f"The push refers to repository [{HOST}/dst]"
    assert text[1:3] == [f"{diff_short[1]}: Preparing", f"{diff_short[0]}: Preparing"]  # top layer first
    assert f"{diff_short[0]}: Mounted from src" in text  # the pulled blobs live in src on this registry
    digest_line = next(t for t in text if ": digest: " in t)
    digest = digest_line.split()[2]
    assert text[-1].startswith(f"aux 2 {digest} ")
    assert f"{HOST}/dst@{digest}" in images.get(f"{HOST}/dst:2").repo_digests
    # a push of a fresh tag of the same image: every layer is already there, same manifest digest
    await images.tag(f"{HOST}/src:1", f"{HOST}/dst", "3")
    again = lines(await run(svc.push(f"{HOST}/dst", "3", RegistryAuth())))
    assert sum(t.endswith("Layer already exists") for t in again) == 2
    assert next(t for t in again if ": digest: " in t).split()[2] == digest
    assert [e for e in events._ring if e["Action"] == "push"][-1]["Actor"]["ID"] == f"{HOST}/dst:3"


async def test_push_of_a_local_image_compresses_and_is_stable(env):
    svc, reg, images, _layers, _ = env
    blob, _ = layer_tar({"hello": b"hi\n"}, compress="")
    await images.import_image(_chunks(blob), repo=f"{HOST}/local", tag="1")
    first = lines(await run(svc.push(f"{HOST}/local", "1", RegistryAuth())))
    assert any(t.endswith(": Pushed") for t in first)
    digest = next(t for t in first if ": digest: " in t).split()[2]
    # forget the registry side, push again: the same gzip bytes, the same manifest digest
    reg.repos.clear()
    svc.blobs._by_diff.clear()
    again = lines(await run(svc.push(f"{HOST}/local", "1", RegistryAuth())))
    assert next(t for t in again if ": digest: " in t).split()[2] == digest
    # and pulled back from scratch it is the same image
    image_id = images.get(f"{HOST}/local:1").id
    await images.remove(f"{HOST}/local:1", force=True)
    await run(svc.pull(f"{HOST}/local", "1", "", RegistryAuth()))
    assert images.get(f"{HOST}/local:1").id == image_id


async def test_push_errors(env):
    svc, _reg, _images, *_ = env
    with pytest.raises(NotFound, match=f"An image does not exist locally with the tag: {HOST}/none:1"):
        await svc.push(f"{HOST}/none", "1", RegistryAuth()).__anext__()
    with pytest.raises(NotFound, match=f"An image does not exist locally with the tag: {HOST}/none$"):
        await svc.push(f"{HOST}/none", "", RegistryAuth()).__anext__()


async def test_login_and_search(env):
    svc, reg, *_ = env
    reg.users = {"alice": "pw"}
    assert await svc.login(RegistryAuth(username="alice", password="pw", server_address=HOST)) == (
        "Login Succeeded",
        "",
    )
    with pytest.raises(Unauthorized, match="401 Unauthorized"):
        await svc.login(RegistryAuth(username="alice", password="no", server_address=HOST))
    reg.users = {}
    found = await svc.search(f"{HOST}/thing", 5, Filters({"stars": ["2"]}), RegistryAuth())
    assert [r.name for r in found] == ["thing-2", "thing-3", "thing-4"]
    with pytest.raises(InvalidParameter, match=r"Limit 101 is outside the range of \[1, 100\]"):
        await svc.search(f"{HOST}/thing", 101, Filters(), RegistryAuth())


async def _chunks(data: bytes):
    yield data
