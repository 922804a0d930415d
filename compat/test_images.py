"""Images: inspect, tag, rmi, save/load, import, history, list filters, prune."""

import io
import json
import tarfile
import urllib.parse

import pytest

from compat.lib import V, make_tar, tar_names

pytestmark = pytest.mark.feature("images")


@pytest.fixture(scope="module")
def busybox(eng):
    return eng.inspect("busybox:latest", "image")


def import_tiny(eng, ref=None, *changes, files=None, message=None):
    """docker import a tiny rootfs (labelled so cleanup finds it even untagged); returns the ID."""
    args = ["import", "-c", f"LABEL cmp.run={eng.scenario_prefix}"]
    for c in changes:
        args += ["-c", c]
    if message:
        args += ["-m", message]
    args += ["-"]
    if ref:
        args.append(ref)
    data = make_tar(files or {"hello.txt": b"hello\n"})
    p = eng.cli(*args, input=data, binary=True)
    assert p.returncode == 0, p.stderr
    return p.stdout.decode().strip()


def test_images_lists_busybox(eng):
    """`docker images` lists busybox latest."""
    out = eng.out("images", "--format", "{{.Repository}}:{{.Tag}}")
    assert "busybox:latest" in out.splitlines()


def test_inspect_busybox(busybox):
    """`docker image inspect busybox`: tags, CMD sh, linux/amd64, layers, sha256 ID."""
    assert "busybox:latest" in busybox["RepoTags"]
    assert busybox["Config"]["Cmd"] == ["sh"]
    assert (busybox["Os"], busybox["Architecture"]) == ("linux", "amd64")
    assert busybox["RootFS"]["Type"] == "layers" and busybox["RootFS"]["Layers"]
    assert busybox["Id"].startswith("sha256:") and len(busybox["Id"]) == 71
    assert busybox["Size"] > 0


def test_inspect_by_short_id(eng, busybox):
    """An image can be inspected by its 12-character ID prefix."""
    short = busybox["Id"][7:19]
    assert eng.inspect(short, "image")["Id"] == busybox["Id"]


def test_inspect_by_full_digest_id(eng, busybox):
    """An image can be inspected by its full sha256:... ID."""
    assert eng.inspect(busybox["Id"], "image")["Id"] == busybox["Id"]


def test_inspect_fully_qualified_name(eng, busybox):
    """docker.io/library/busybox:latest names the same image as busybox."""
    assert eng.inspect("docker.io/library/busybox:latest", "image")["Id"] == busybox["Id"]


def test_inspect_missing_image_cli(eng):
    """`docker image inspect nosuch` exits 1 and says No such image."""
    p = eng.cli("image", "inspect", f"{eng.name('nosuch')}")
    assert p.returncode == 1
    assert "No such image" in p.stderr


def test_inspect_missing_image_http(eng):
    """GET /images/<missing>/json: 404 JSON message naming the image with :latest."""
    name = eng.name("nosuch")
    r = eng.http("GET", f"{V}/images/{name}/json")
    assert r.status == 404
    assert f"No such image: {name}:latest" in r.message


def test_dockerpy_image_not_found(client, eng):
    """docker-py raises ImageNotFound (decided from the message) for a missing image."""
    import docker

    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(eng.name("nosuch"))


def test_tag_adds_reference(eng, busybox):
    """`docker tag busybox X:1` makes X:1 name the same image; busybox keeps its tag."""
    ref = f"{eng.name('tag')}:1"
    p = eng.cli("tag", "busybox", ref)
    assert p.returncode == 0 and p.stdout == "", p.stderr
    img = eng.inspect(ref, "image")
    assert img["Id"] == busybox["Id"]
    assert ref in img["RepoTags"] and "busybox:latest" in img["RepoTags"]


def test_tag_http_status(eng):
    """POST /images/{name}/tag answers 201 with an empty body."""
    repo = eng.name("tag")
    r = eng.http("POST", f"{V}/images/busybox/tag?repo=docker.io%2Flibrary%2F{repo}&tag=2")
    assert r.status == 201 and r.body == b""
    assert eng.inspect(f"{repo}:2", "image")["Id"]


def test_tag_with_registry_host(eng):
    """A tag with a registry host and port keeps it in RepoTags."""
    ref = f"localhost:5000/{eng.name('reg')}:v1"
    eng.out("tag", "busybox", ref)
    assert ref in eng.inspect(ref, "image")["RepoTags"]


def test_tag_missing_image(eng):
    """Tagging a missing image exits 1 with No such image."""
    p = eng.cli("tag", eng.name("nosuch"), f"{eng.name('t')}:1")
    assert p.returncode == 1
    assert "No such image" in p.stderr


def test_rmi_untags_only(eng, busybox):
    """`docker rmi X:1` on an extra tag of busybox prints Untagged and leaves busybox."""
    ref = f"{eng.name('tag')}:1"
    eng.out("tag", "busybox", ref)
    p = eng.cli("rmi", ref)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"Untagged: {ref}"
    assert eng.inspect("busybox", "image")["Id"] == busybox["Id"]
    assert eng.cli("image", "inspect", ref).returncode == 1


def test_rmi_http_untag_body(eng):
    """DELETE /images/{tag} answers 200 with [{"Untagged": ...}]."""
    ref = f"{eng.name('tag')}:1"
    eng.out("tag", "busybox", ref)
    r = eng.http("DELETE", f"{V}/images/{ref}")
    assert r.status == 200
    assert r.json() == [{"Untagged": ref}]


def test_rmi_last_tag_deletes(eng):
    """Removing the last tag of an image deletes it: Untagged, then Deleted: sha256:..."""
    ref = f"{eng.name('imp')}:1"
    iid = import_tiny(eng, ref)
    p = eng.cli("rmi", ref)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert lines[0] == f"Untagged: {ref}"
    assert f"Deleted: {iid}" in lines
    assert eng.cli("image", "inspect", iid).returncode == 1


def test_rmi_missing(eng):
    """`docker rmi nosuch` exits 1 with No such image."""
    p = eng.cli("rmi", eng.name("nosuch"))
    assert p.returncode == 1
    assert "No such image" in p.stderr


def test_rmi_by_id_with_several_tags_conflicts(eng):
    """Removing by ID an image with several repository tags is a 409 'must be forced' conflict."""
    repo1, repo2 = eng.name("a"), eng.name("b")
    iid = import_tiny(eng, f"{repo1}:1")
    eng.out("tag", f"{repo1}:1", f"{repo2}:1")
    r = eng.http("DELETE", f"{V}/images/{iid}")
    assert r.status == 409
    assert "(must be forced) - image is referenced in multiple repositories" in r.message
    assert eng.inspect(iid, "image")["Id"] == iid


def test_rmi_force_by_id(eng):
    """`docker rmi -f <id>` removes every tag and the image."""
    repo1, repo2 = eng.name("a"), eng.name("b")
    iid = import_tiny(eng, f"{repo1}:1")
    eng.out("tag", f"{repo1}:1", f"{repo2}:1")
    p = eng.cli("rmi", "-f", iid)
    assert p.returncode == 0, p.stderr
    assert f"Untagged: {repo1}:1" in p.stdout and f"Untagged: {repo2}:1" in p.stdout
    assert f"Deleted: {iid}" in p.stdout


def test_save_load_round_trip(eng, busybox, tmp_path):
    """save X to a file, rmi X, load the file: 'Loaded image: X' and the same image ID."""
    ref = f"{eng.name('rt')}:1"
    eng.out("tag", "busybox", ref)
    tar = tmp_path / "img.tar"
    eng.out("save", "-o", str(tar), ref)
    eng.out("rmi", ref)
    p = eng.cli("load", "-i", str(tar))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"Loaded image: {ref}"
    assert eng.inspect(ref, "image")["Id"] == busybox["Id"]


def test_save_archive_layout(eng, busybox):
    """`docker save` writes a docker-archive: manifest.json naming the tag, the config and layers."""
    ref = f"{eng.name('sv')}:1"
    eng.out("tag", "busybox", ref)
    p = eng.cli("save", ref, binary=True)
    assert p.returncode == 0, p.stderr
    with tarfile.open(fileobj=io.BytesIO(p.stdout)) as t:
        manifest = json.load(t.extractfile("manifest.json"))
        assert manifest[0]["RepoTags"] == [ref]
        config = json.load(t.extractfile(manifest[0]["Config"]))
        assert config["config"]["Cmd"] == ["sh"]
        assert len(manifest[0]["Layers"]) == len(busybox["RootFS"]["Layers"])
        for layer in manifest[0]["Layers"]:
            assert t.getmember(layer).size > 0


def test_save_several_images_http(eng):
    """GET /images/get?names=a&names=b returns one archive holding both tags."""
    a, b = f"{eng.name('a')}:1", f"{eng.name('b')}:1"
    eng.out("tag", "busybox", a)
    import_tiny(eng, b)
    r = eng.http("GET", f"{V}/images/get?names={urllib.parse.quote(a)}&names={urllib.parse.quote(b)}")
    assert r.status == 200
    with tarfile.open(fileobj=io.BytesIO(r.body)) as t:
        manifest = json.load(t.extractfile("manifest.json"))
    tags = sorted(tag for m in manifest for tag in m["RepoTags"] or [])
    assert tags == sorted([a, b])


def test_load_from_stdin(eng, tmp_path):
    """`docker load < file` (stdin) loads the image too."""
    ref = f"{eng.name('st')}:1"
    iid = import_tiny(eng, ref)
    data = eng.cli("save", ref, binary=True).stdout
    eng.out("rmi", ref)
    p = eng.cli("load", input=data, binary=True)
    assert p.returncode == 0, p.stderr
    assert f"Loaded image: {ref}" in p.stdout.decode()
    assert eng.inspect(ref, "image")["Id"] == iid


def test_load_http_stream_messages(eng):
    """POST /images/load answers a JSON stream whose last message is 'Loaded image: X'."""
    ref = f"{eng.name('ld')}:1"
    import_tiny(eng, ref)
    data = eng.cli("save", ref, binary=True).stdout
    eng.out("rmi", ref)
    r = eng.http("POST", f"{V}/images/load", body=data, headers={"Content-Type": "application/x-tar"})
    assert r.status == 200
    msgs = [json.loads(line) for line in r.body.splitlines() if line.strip()]
    assert msgs[-1] == {"stream": f"Loaded image: {ref}\n"}


def test_load_garbage_fails(eng):
    """Loading something that is not an image archive exits 1 and changes nothing."""
    before = eng.out("images", "-q", "--no-trunc")
    p = eng.cli("load", input=b"this is not a tar archive" * 100, binary=True)
    assert p.returncode == 1
    assert eng.out("images", "-q", "--no-trunc") == before


def test_import_with_changes(eng):
    """`docker import -c CMD -c ENV -m msg`: Config.Cmd, Env and Comment as given."""
    ref = f"{eng.name('imp')}:2"
    iid = import_tiny(eng, ref, 'CMD ["sh"]', "ENV IMPORTED=1", message="imported by compat")
    img = eng.inspect(ref, "image")
    assert img["Id"] == iid
    assert img["Config"]["Cmd"] == ["sh"]
    assert "IMPORTED=1" in img["Config"]["Env"]
    assert img["Comment"] == "imported by compat"
    assert img["Config"]["Labels"]["cmp.run"] == eng.scenario_prefix


def test_import_output_is_image_id(eng):
    """`docker import` prints the new image's sha256 ID."""
    iid = import_tiny(eng, f"{eng.name('imp')}:1")
    assert iid.startswith("sha256:") and len(iid) == 71
    assert eng.inspect(iid, "image")["Id"] == iid


def test_import_http_progress(eng):
    """POST /images/create?fromSrc=- answers {"status":"sha256:..."} and tags repo:tag given in repo=."""
    repo = eng.name("imp")
    data = make_tar({"a.txt": b"a\n"})
    q = urllib.parse.urlencode({"fromSrc": "-", "repo": f"{repo}:7", "changes": f"LABEL cmp.run={eng.scenario_prefix}"})
    r = eng.http("POST", f"{V}/images/create?{q}", body=data, headers={"Content-Type": "text/plain"})
    assert r.status == 200
    msgs = [json.loads(line) for line in r.body.splitlines() if line.strip()]
    assert msgs[-1]["status"].startswith("sha256:")
    assert eng.inspect(f"{repo}:7", "image")["Id"] == msgs[-1]["status"]


def test_import_untagged_is_dangling(eng):
    """An import without a name is listed as <none>:<none> under dangling=true."""
    iid = import_tiny(eng, None)
    out = eng.out("images", "--filter", "dangling=true", "-q", "--no-trunc")
    assert iid in out.splitlines()


def test_history(eng):
    """`docker history` of an import shows its comment; docker-py agrees on the row count."""
    ref = f"{eng.name('h')}:1"
    import_tiny(eng, ref, message="history msg")
    p = eng.cli("history", "--no-trunc", "--format", "{{.Comment}}", ref)
    assert p.returncode == 0, p.stderr
    assert "history msg" in p.stdout
    assert len(eng.client.images.get(ref).history()) == len(p.stdout.strip().splitlines())


def test_history_busybox_http(eng):
    """GET /images/busybox/history is a list whose first row has Id, Created, CreatedBy, Size, Tags."""
    r = eng.http("GET", f"{V}/images/busybox/history")
    assert r.status == 200
    rows = r.json()
    assert rows and {"Id", "Created", "CreatedBy", "Size", "Tags"} <= set(rows[0])
    assert "busybox:latest" in (rows[0]["Tags"] or [])


def test_history_missing(eng):
    """`docker history nosuch` exits 1 with No such image."""
    p = eng.cli("history", eng.name("nosuch"))
    assert p.returncode == 1 and "No such image" in p.stderr


def test_images_filter_reference(eng):
    """`docker images --filter reference=X` lists only X's tags."""
    repo = eng.name("ref")
    eng.out("tag", "busybox", f"{repo}:1")
    eng.out("tag", "busybox", f"{repo}:2")
    out = eng.out("images", "--filter", f"reference={repo}", "--format", "{{.Repository}}:{{.Tag}}")
    assert sorted(out.splitlines()) == [f"{repo}:1", f"{repo}:2"]


def test_images_filter_reference_wildcard_tag(eng):
    """A reference filter with a tag pattern (X:1*) matches only those tags."""
    repo = eng.name("ref")
    for t in ("10", "11", "20"):
        eng.out("tag", "busybox", f"{repo}:{t}")
    out = eng.out("images", "--filter", f"reference={repo}:1*", "--format", "{{.Tag}}")
    assert sorted(out.splitlines()) == ["10", "11"]


def test_images_filter_label(eng):
    """`docker images --filter label=k=v` finds an imported image by its label."""
    ref = f"{eng.name('lbl')}:1"
    iid = import_tiny(eng, ref, "LABEL compat.kind=labelled")
    out = eng.out(
        "images",
        "--filter",
        "label=compat.kind=labelled",
        "--filter",
        f"label=cmp.run={eng.scenario_prefix}",
        "-q",
        "--no-trunc",
    )
    assert out.splitlines() == [iid]


def test_images_quiet_ids(eng, busybox):
    """`docker images -q` prints short IDs, one per image."""
    out = eng.out("images", "-q")
    assert busybox["Id"][7:19] in out.splitlines()


def test_images_json_shape(eng, busybox):
    """GET /images/json items carry Id, RepoTags, Created, Size, Labels."""
    items = eng.http("GET", f"{V}/images/json").json()
    bb = next(i for i in items if i["Id"] == busybox["Id"])
    assert "busybox:latest" in bb["RepoTags"]
    assert bb["Size"] == busybox["Size"]
    assert isinstance(bb["Created"], int) and bb["Created"] > 0


def test_image_prune_removes_dangling(eng):
    """`docker image prune -f` deletes a dangling image and reports it."""
    iid = import_tiny(eng, None)
    p = eng.cli("image", "prune", "-f", "--filter", f"label=cmp.run={eng.scenario_prefix}")
    assert p.returncode == 0, p.stderr
    assert f"deleted: {iid}" in p.stdout
    assert "Total reclaimed space" in p.stdout
    assert eng.cli("image", "inspect", iid).returncode == 1


def test_image_prune_keeps_tagged(eng):
    """`docker image prune -f` (dangling only) keeps tagged images."""
    ref = f"{eng.name('keep')}:1"
    iid = import_tiny(eng, ref)
    p = eng.cli("image", "prune", "-f", "--filter", f"label=cmp.run={eng.scenario_prefix}")
    assert p.returncode == 0, p.stderr
    assert eng.inspect(ref, "image")["Id"] == iid


def test_image_prune_http_body(eng):
    """POST /images/prune answers ImagesDeleted and SpaceReclaimed."""
    iid = import_tiny(eng, None)
    flt = urllib.parse.quote(
        json.dumps({"dangling": {"true": True}, "label": {f"cmp.run={eng.scenario_prefix}": True}})
    )
    r = eng.http("POST", f"{V}/images/prune?filters={flt}")
    assert r.status == 200
    body = r.json()
    assert {"Deleted": iid} in body["ImagesDeleted"]
    assert isinstance(body["SpaceReclaimed"], int)


def test_dockerpy_images_list_get(client, busybox):
    """docker-py: images.list(name='busybox') and images.get('busybox') agree."""
    listed = client.images.list(name="busybox")
    assert busybox["Id"] in [i.id for i in listed]
    assert "busybox:latest" in client.images.get("busybox").tags


def test_dockerpy_load_and_save(client, eng):
    """docker-py: image.save() produces an archive that images.load() takes back."""
    ref = f"{eng.name('py')}:1"
    iid = import_tiny(eng, ref)
    data = b"".join(client.images.get(ref).save(named=True))
    client.images.remove(ref)
    loaded = client.images.load(data)
    assert [i.id for i in loaded] == [iid]
    assert ref in client.images.get(iid).tags


def test_imported_image_file_in_saved_layer(eng):
    """The file given to `docker import` is in the layer that `docker save` writes out."""
    ref = f"{eng.name('lay')}:1"
    import_tiny(eng, ref, files={"dir/": ("dir",), "dir/file.txt": b"content\n"})
    data = eng.cli("save", ref, binary=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        manifest = json.load(t.extractfile("manifest.json"))
        layer = t.extractfile(manifest[0]["Layers"][0]).read()
    names = [n.rstrip("/") for n in tar_names(layer)]
    assert "dir/file.txt" in names


@pytest.mark.feature("containers")
def test_rmi_image_in_use_conflict(eng):
    """Removing an image a container uses is a 409 conflict naming the container; the image stays."""
    ref = f"{eng.name('use')}:1"
    iid = import_tiny(eng, ref, 'CMD ["/nothing"]')
    cid = eng.out("create", "--name", eng.name("c"), ref)
    r = eng.http("DELETE", f"{V}/images/{iid}")
    assert r.status == 409
    assert "image is being used by stopped container" in r.message and cid[:12] in r.message
    assert eng.inspect(iid, "image")["Id"] == iid


def test_inspect_loaded_metadata(busybox):
    """A loaded image: Created as RFC 3339, RepoDigests empty, no Parent, Metadata.LastTagTime set."""
    assert busybox["Created"].endswith("Z") and busybox["Created"][4] == "-"
    assert busybox["RepoDigests"] == []
    assert busybox["Parent"] == ""
    assert busybox["Metadata"]["LastTagTime"]


def test_load_of_a_non_image_answers_200_with_the_error_in_the_stream(eng):
    """POST /images/load with a body that is no image archive: 200, then an error message in the
    stream (dockerd's LoadImage), which docker-py turns into ImageLoadError."""
    r = eng.http(
        "POST",
        f"{V}/images/load?quiet=1",
        body=make_tar({"hello.txt": b"hi"}),
        headers={"Content-Type": "application/x-tar"},
    )
    assert r.status == 200, r
    last = json.loads(r.text.strip().splitlines()[-1])
    assert last.get("errorDetail", {}).get("message") and last.get("error") == last["errorDetail"]["message"]
    import docker.errors

    with pytest.raises(docker.errors.ImageLoadError):
        eng.client.images.load(make_tar({"hello.txt": b"hi"}))
