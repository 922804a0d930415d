"""engine/volumes.py and the volume endpoints, on an in-memory volume filesystem."""

from __future__ import annotations

import types

import pytest

from shim.api.server import make_app
from shim.config import Settings
from shim.engine.daemon import Engine, HostFacts
from shim.engine.events import Events
from shim.engine.store import Store
from shim.engine.volumes import VolumeService
from shim.errors import Conflict, InvalidParameter, NotFound


class FakeVolumeFS:
    def __init__(self) -> None:
        self.dirs: dict[str, int] = {}
        self.mounted: set[str] = set()
        self.bind_sources: list[str] = []

    def path(self, name):
        return f"/data/volumes/{name}/_data"

    def create(self, name):
        self.dirs.setdefault(name, 0)

    def names(self):
        return list(self.dirs)

    def remove(self, name):
        self.dirs.pop(name, None)

    def mount(self, name, opts):
        self.mounted.add(name)

    def unmount(self, name):
        self.mounted.discard(name)

    def is_empty(self, name):
        return not self.dirs.get(name)

    def size(self, name):
        return self.dirs.get(name, 0)

    def exists(self, path):
        return path.startswith("/exists")

    def ensure_bind_source(self, path):
        self.bind_sources.append(path)


class FakeRootfs:
    def __init__(self):
        self.copies = []

    async def copy_up(self, cid, layer_dirs, pairs):
        self.copies.append((cid, pairs))


def _container(cid="c1", volumes=None, **hc):
    return types.SimpleNamespace(id=cid, config={"Volumes": volumes or {}}, host_config=hc, layer_dirs=["/l"])


@pytest.fixture
def svc(tmp_path):
    s = VolumeService(
        store=Store(tmp_path), events=Events(), fs=FakeVolumeFS(), rootfs=FakeRootfs(), protected_roots=[str(tmp_path)]
    )
    return s


async def test_create_get_list_remove(svc):
    v = await svc.create("v1", labels={"a": "b"})
    assert svc.get("v1") is v and v.options is None
    anon = await svc.create("")
    assert len(anon.name) == 64
    assert [x.name for x in svc.list({"label": ["a=b"]})] == ["v1"]
    assert [x.name for x in svc.list({"name": ["v"]})] == ["v1"]
    await svc.remove("v1")
    with pytest.raises(NotFound, match="get v1: no such volume"):
        svc.get("v1")
    await svc.remove("v1", force=True)


async def test_bad_names_and_options(svc):
    with pytest.raises(InvalidParameter, match="includes invalid characters"):
        await svc.create("a/b")
    with pytest.raises(InvalidParameter, match='invalid option key: "bogus"'):
        await svc.create("vv", options={"bogus": "1"})
    with pytest.raises(NotFound, match="plugin"):
        await svc.create("vv", driver="nfsplugin")


async def test_in_use_conflict_and_dangling(svc):
    c = _container(Binds=["named:/data"], Tmpfs={})
    await svc.register(c)
    with pytest.raises(Conflict, match=r"remove named: volume is in use - \[c1\]"):
        await svc.remove("named")
    assert [v.name for v in svc.list({"dangling": ["true"]})] == []
    assert svc.inspect_mounts("c1")[0]["Source"] == "/data/volumes/named/_data"
    await svc.forget("c1", remove_anonymous=True)
    assert svc.get("named")  # named volumes survive rm -v
    assert [v.name for v in svc.list({"dangling": ["1"]})] == ["named"]


async def test_anonymous_removed_with_rm_v_and_copy_up(svc):
    c = _container(volumes={"/img": {}}, Binds=["/anon"])
    plan = await svc.register(c)
    names = [p.name for p in plan]
    assert all(len(n) == 64 for n in names)
    assert svc._rootfs.copies == [("c1", [(p.destination, p.source) for p in plan])]
    await svc.forget("c1", remove_anonymous=True)
    assert svc.list() == []


async def test_start_mounts_and_release(svc):
    await svc.create("tv", options={"type": "tmpfs", "device": "tmpfs"})
    c = _container(Binds=["tv:/t:ro", "/h/x:/x"], Tmpfs={"/run": "size=1m"})
    await svc.register(c)
    specs = await svc.start_mounts(c)
    assert [(s.destination, s.type) for s in specs] == [("/t", "bind"), ("/x", "bind"), ("/run", "tmpfs")]
    assert "ro" in specs[0].options and svc._fs.mounted == {"tv"} and svc._fs.bind_sources == ["/h/x"]
    await svc.release("c1")
    assert svc._fs.mounted == set()


async def test_mount_bind_missing_source(svc):
    c = _container(Mounts=[{"Type": "bind", "Source": "/nope", "Target": "/x"}])
    with pytest.raises(
        InvalidParameter, match='invalid mount config for type "bind": bind source path does not exist: /nope'
    ):
        await svc.register(c)


async def test_prune_anonymous_only_and_labels(svc):
    await svc.create("keep", labels={"k": "1"})
    await svc.create("", anonymous=True)
    deleted, _ = await svc.prune({}, anonymous_only=True)
    assert len(deleted) == 1 and [v.name for v in svc.list()] == ["keep"]
    deleted, _ = await svc.prune({"label": ["k=2"]})
    assert deleted == []
    deleted, _ = await svc.prune({"label": ["k=1"]})
    assert deleted == ["keep"]


async def test_restore(tmp_path, svc):
    await svc.register(_container(Binds=["named:/data"]))
    again = VolumeService(store=Store(tmp_path), events=Events(), fs=FakeVolumeFS())
    await again.restore()
    assert again.users("named") == ["c1"]


async def test_a_container_without_mounts_has_no_record_and_none_after_a_restart(tmp_path, svc):
    assert await svc.register(_container("bare")) == []
    await svc.register(_container("bound", Binds=["/exists/src:/data"]))
    assert svc._store.get("mounts", "bare") is None and svc._store.get("mounts", "bound")
    again = VolumeService(store=Store(tmp_path), events=Events(), fs=FakeVolumeFS())
    await again.restore()
    assert again.mount_points("bare") == [] and again.inspect_mounts("bare") == []
    assert [m.destination for m in again.mount_points("bound")] == ["/data"]
    await again.forget("bare")
    await again.forget("bound")
    assert Store(tmp_path).load_all("mounts") == {}


async def test_a_container_without_mounts_has_no_mounts_record(tmp_path, svc):
    """Issue 17: most containers mount nothing; their create writes no mounts record (nor, in the
    container service, an intent) and their removal deletes none. One with a mount keeps both."""
    records = tmp_path / "db" / "mounts"
    bare, bound = _container("bare"), _container("bound", Binds=["named:/data"])
    assert not svc.plans_mounts(bare) and svc.plans_mounts(bound)
    assert svc.plans_mounts(_container("anon", volumes={"/v": {}})) and svc.plans_mounts(
        _container("t", Tmpfs={"/t": ""})
    )
    await svc.register(bare)
    await svc.register(bound)
    assert sorted(p.name for p in records.glob("*.json")) == ["bound.json"]
    assert svc.inspect_mounts("bare") == [] and len(svc.inspect_mounts("bound")) == 1
    again = VolumeService(store=Store(tmp_path), events=Events(), fs=FakeVolumeFS())
    await again.restore()
    assert again.inspect_mounts("bare") == [] and not again.plans_mounts(bare) and again.plans_mounts(bound)
    await again.forget("bare")
    await again.forget("bound")
    assert list(records.glob("*.json")) == []


async def test_a_plan_replaced_by_none_is_recorded_empty(tmp_path, svc):
    """A pre-1.24 start-time HostConfig without the binds of the create's: the old plan is not kept."""
    await svc.register(_container("c1", Binds=["named:/data"]))
    c = _container("c1")
    assert svc.plans_mounts(c)  # it has a plan to replace
    await svc.register(c)
    assert svc.inspect_mounts("c1") == []
    again = VolumeService(store=Store(tmp_path), events=Events(), fs=FakeVolumeFS())
    await again.restore()
    assert again.inspect_mounts("c1") == [] and again.users("named") == []


@pytest.fixture
async def api(aiohttp_client, tmp_path, svc):
    store, events = Store(tmp_path), Events()
    host = HostFacts("6.1", "Debian", "12", "amd64", 2, 1 << 30, "cgroupfs", "1", "h")
    engine = Engine(settings=Settings(data_root=str(tmp_path)), store=store, events=events, host=host, volumes=svc)
    return await aiohttp_client(make_app(engine))


async def test_api_round_trip(api):
    r = await api.post("/v1.41/volumes/create", json={"Name": "vv", "Driver": "local", "Labels": {"rec": "1"}})
    assert r.status == 201
    body = await r.json()
    assert list(body) == ["CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope"]
    assert body["Mountpoint"] == "/data/volumes/vv/_data" and body["Options"] is None
    r = await api.get("/v1.41/volumes")
    assert (await r.json())["Warnings"] is None
    r = await api.get("/v1.41/volumes/nosuch")
    assert r.status == 404 and (await r.json())["message"] == "get nosuch: no such volume"
    r = await api.post("/v1.41/volumes/prune")
    assert (await r.json())["VolumesDeleted"] == ["vv"]
    await api.post("/v1.41/volumes/create", json={"Name": "ww"})
    r = await api.post("/v1.44/volumes/prune")
    assert (await r.json())["VolumesDeleted"] == []  # dockerd: an empty list, never null
    r = await api.post('/v1.44/volumes/prune?filters={"all":["true"]}')
    assert (await r.json())["VolumesDeleted"] == ["ww"]
    r = await api.delete("/v1.41/volumes/ww")
    assert r.status == 404
