"""Image presenters across API versions."""

from __future__ import annotations

from shim.engine.images import Image
from shim.translate import images as tr
from shim.translate.versions import Version

CFG = {
    "architecture": "amd64",
    "os": "linux",
    "created": "2024-01-01T00:00:00Z",
    "comment": "Imported from -",
    "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "d" * 64]},
}


def img(tags=("docker.io/library/busybox:latest",)):
    return Image(
        id="sha256:" + "a" * 64,
        config=CFG,
        repo_tags=list(tags),
        size=123,
        last_tag_time="2026-11-28T17:17:59.789289417Z",
    )


def test_list_item_1_41_matches_dockerd_20_10():
    v = Version.parse("1.41")
    item = tr.list_item(img(), ["busybox:latest"], v)
    assert list(item) == [
        "Containers",
        "Created",
        "Id",
        "Labels",
        "ParentId",
        "RepoDigests",
        "RepoTags",
        "SharedSize",
        "Size",
        "VirtualSize",
    ]
    assert item["Containers"] == -1 and item["SharedSize"] == -1 and item["RepoDigests"] is None
    assert item["Created"] == 1704067200 and item["VirtualSize"] == 123 and item["Labels"] is None


def test_list_item_dangling_by_version():
    old = tr.list_item(img(()), [], Version.parse("1.42"))
    assert old["RepoTags"] == ["<none>:<none>"] and old["RepoDigests"] == ["<none>@<none>"]
    new = tr.list_item(img(()), [], Version.parse("1.44"))
    assert new["RepoTags"] == [] and new["RepoDigests"] == [] and "VirtualSize" not in new


def test_inspect_by_version():
    dirs = ["/x/layers/d/diff"]
    old = tr.inspect(img(), dirs, Version.parse("1.41"))
    assert list(old)[:8] == [
        "Id",
        "RepoTags",
        "RepoDigests",
        "Parent",
        "Comment",
        "Created",
        "Container",
        "ContainerConfig",
    ]
    assert old["RepoTags"] == ["busybox:latest"] and old["VirtualSize"] == 123
    assert old["Config"]["Hostname"] == "" and old["Config"]["Cmd"] == ["sh"] and old["Config"]["Labels"] is None
    assert old["GraphDriver"] == {
        "Data": {"MergedDir": "/x/layers/d/merged", "UpperDir": "/x/layers/d/diff", "WorkDir": "/x/layers/d/work"},
        "Name": "overlay2",
    }
    assert old["RootFS"] == {"Type": "layers", "Layers": ["sha256:" + "d" * 64]}
    assert old["Metadata"] == {"LastTagTime": "2026-11-28T17:17:59.789289417Z"}
    v144 = tr.inspect(img(), dirs, Version.parse("1.44"))
    assert "VirtualSize" not in v144 and "ContainerConfig" in v144
    v145 = tr.inspect(img(), dirs, Version.parse("1.45"))
    assert "ContainerConfig" not in v145 and "Container" not in v145 and "Hostname" in v145["Config"]
    v150 = tr.inspect(img(), dirs, Version.parse("1.50"))
    assert "Hostname" not in v150["Config"] and "AttachStdin" not in v150["Config"] and "Image" not in v150["Config"]
    assert v150["Config"]["Env"] == ["PATH=/bin"]


def test_history_and_prune_shapes():
    e = {"comment": "", "created": 1, "created_by": "x", "id": "<missing>", "size": 0, "tags": []}
    assert tr.history_item(e) == {
        "Comment": "",
        "Created": 1,
        "CreatedBy": "x",
        "Id": "<missing>",
        "Size": 0,
        "Tags": None,
    }
    assert tr.prune_result([], 0) == {"ImagesDeleted": None, "SpaceReclaimed": 0}
