"""Volumes and mounts: named and anonymous volumes, binds, tmpfs, --mount, --volumes-from."""

import json
import urllib.parse

import pytest

from compat.lib import V, version_tuple

pytestmark = pytest.mark.feature("volumes")


def test_volume_create_inspect(eng):
    """`docker volume create --label`: inspect shows Driver local, Scope local, Mountpoint, Labels."""
    name = eng.name("vol")
    assert eng.out("volume", "create", "--label", "compat.k=v", name) == name
    v = json.loads(eng.out("volume", "inspect", name))[0]
    assert (v["Name"], v["Driver"], v["Scope"]) == (name, "local", "local")
    assert v["Labels"] == {"compat.k": "v"}
    assert v["Mountpoint"].startswith("/") and v["CreatedAt"]


def test_volume_create_http_201(eng):
    """POST /volumes/create answers 201 with the volume object."""
    name = eng.name("vol")
    r = eng.http("POST", f"{V}/volumes/create", body={"Name": name, "Driver": "local", "Labels": {"a": "b"}})
    assert r.status == 201
    assert r.json()["Name"] == name and r.json()["Labels"] == {"a": "b"}


def test_volume_create_generated_name(eng):
    """A volume created without a name gets a 64-hex name."""
    r = eng.http("POST", f"{V}/volumes/create", body={"Labels": {"cmp.run": eng.scenario_prefix}})
    assert r.status == 201
    name = r.json()["Name"]
    try:
        assert len(name) == 64 and int(name, 16) >= 0
    finally:
        eng.http("DELETE", f"{V}/volumes/{name}")


def test_volume_ls_filters(eng):
    """`docker volume ls --filter name= / label=` select volumes."""
    a, b = eng.name("vol"), eng.name("vol")
    eng.out("volume", "create", "--label", f"compat.ls={eng.scenario_prefix}", a)
    eng.out("volume", "create", b)
    out = eng.out("volume", "ls", "-q", "--filter", f"label=compat.ls={eng.scenario_prefix}")
    assert out.splitlines() == [a]
    out = eng.out("volume", "ls", "-q", "--filter", f"name={eng.scenario_prefix}")
    assert sorted(out.splitlines()) == sorted([a, b])


def test_volume_rm(eng):
    """`docker volume rm` prints the name; inspect then fails with 'no such volume'."""
    name = eng.name("vol")
    eng.out("volume", "create", name)
    assert eng.out("volume", "rm", name) == name
    p = eng.cli("volume", "inspect", name)
    assert p.returncode == 1 and "no such volume" in p.stderr


def test_volume_inspect_missing_http(eng):
    """GET /volumes/<missing>: 404 'get X: no such volume'."""
    name = eng.name("nosuch")
    r = eng.http("GET", f"{V}/volumes/{name}")
    assert r.status == 404 and r.message == f"get {name}: no such volume"


@pytest.mark.feature("containers")
def test_volume_rm_in_use(eng):
    """Removing a volume a container uses: 409 'volume is in use'; it stays."""
    name = eng.name("vol")
    c = eng.run_d("-v", f"{name}:/data", "busybox", "sleep", "300")
    cid = eng.inspect(c)["Id"]
    r = eng.http("DELETE", f"{V}/volumes/{name}")
    assert r.status == 409
    assert r.message == f"remove {name}: volume is in use - [{cid}]"
    assert eng.cli("volume", "inspect", name).returncode == 0


@pytest.mark.feature("containers")
def test_named_volume_persists(eng):
    """Data written to a named volume by one container is read by the next."""
    name = eng.name("vol")
    eng.out("run", "--rm", "-v", f"{name}:/data", "busybox", "sh", "-c", "echo kept > /data/f")
    assert eng.out("run", "--rm", "-v", f"{name}:/data", "busybox", "cat", "/data/f") == "kept"


@pytest.mark.feature("containers")
def test_named_volume_auto_created(eng):
    """`-v name:/path` creates the named volume on the fly."""
    name = eng.name("vol")
    eng.out("run", "--rm", "-v", f"{name}:/data", "busybox", "true")
    assert json.loads(eng.out("volume", "inspect", name))[0]["Driver"] == "local"


@pytest.mark.feature("containers")
def test_volume_copy_up(eng):
    """A new empty volume mounted over image content (/etc) is filled with that content."""
    name = eng.name("vol")
    eng.out("run", "--rm", "-v", f"{name}:/etc", "busybox", "true")
    out = eng.out("run", "--rm", "-v", f"{name}:/probe", "busybox", "ls", "/probe")
    assert "passwd" in out.split() and "group" in out.split()


@pytest.mark.feature("containers")
def test_volume_nocopy(eng):
    """--mount ...,volume-nocopy: the image's files are not copied into the new volume."""
    name = eng.name("vol")
    eng.out("run", "--rm", "--mount", f"type=volume,src={name},dst=/etc,volume-nocopy", "busybox", "true")
    out = eng.out("run", "--rm", "-v", f"{name}:/probe", "busybox", "ls", "-A", "/probe").split()
    assert "passwd" not in out and "group" not in out


@pytest.mark.feature("containers")
def test_volume_read_only(eng):
    """`-v name:/data:ro` is read-only inside."""
    name = eng.name("vol")
    p = eng.cli("run", "--rm", "-v", f"{name}:/data:ro", "busybox", "touch", "/data/x")
    assert p.returncode == 1 and "Read-only file system" in p.stderr


@pytest.mark.feature("containers")
def test_mounts_in_inspect(eng):
    """inspect Mounts: Type volume, Name, Destination, Driver local, RW."""
    name = eng.name("vol")
    c = eng.name("c")
    eng.out("create", "--name", c, "-v", f"{name}:/data", "busybox", "true")
    m = eng.inspect(c)["Mounts"]
    assert len(m) == 1
    assert (m[0]["Type"], m[0]["Name"], m[0]["Destination"], m[0]["Driver"], m[0]["RW"]) == (
        "volume",
        name,
        "/data",
        "local",
        True,
    )


@pytest.mark.feature("containers")
def test_anonymous_volume_removed_with_v(eng):
    """`-v /data` makes an anonymous volume; `docker rm -v` removes it."""
    c = eng.name("c")
    eng.out("create", "--name", c, "-v", "/data", "busybox", "true")
    m = eng.inspect(c)["Mounts"][0]
    assert m["Type"] == "volume" and len(m["Name"]) == 64
    eng.out("rm", "-v", c)
    assert eng.cli("volume", "inspect", m["Name"]).returncode == 1


@pytest.mark.feature("containers")
def test_named_volume_survives_rm_v(eng):
    """`docker rm -v` leaves named volumes alone."""
    name, c = eng.name("vol"), eng.name("c")
    eng.out("create", "--name", c, "-v", f"{name}:/data", "busybox", "true")
    eng.out("rm", "-v", c)
    assert eng.cli("volume", "inspect", name).returncode == 0


@pytest.mark.feature("containers")
def test_volumes_from(eng):
    """--volumes-from X mounts X's volumes: data written by X is visible."""
    name = eng.name("vol")
    src = eng.name("c")
    eng.out("run", "--name", src, "-v", f"{name}:/shared", "busybox", "sh", "-c", "echo from-src > /shared/f")
    assert eng.out("run", "--rm", "--volumes-from", src, "busybox", "cat", "/shared/f") == "from-src"


def test_volume_prune(eng):
    """`docker volume prune -f --filter label=...` removes unused volumes and reports them."""
    name = eng.name("vol")
    eng.out("volume", "create", "--label", f"compat.prune={eng.scenario_prefix}", name)
    args = ["volume", "prune", "-f", "--filter", f"label=compat.prune={eng.scenario_prefix}"]
    if version_tuple(eng.cli_api) >= (1, 42):
        args.insert(3, "--all")  # from API 1.42 prune only takes anonymous volumes unless all=true
    p = eng.cli(*args)
    assert p.returncode == 0 and name in p.stdout
    assert eng.cli("volume", "inspect", name).returncode == 1


def test_dockerpy_volumes(client, eng):
    """docker-py: volumes.create/get/list/remove."""
    name = eng.name("vol")
    v = client.volumes.create(name, labels={"compat": "py"})
    assert client.volumes.get(name).attrs["Labels"] == {"compat": "py"}
    assert name in [x.name for x in client.volumes.list(filters={"name": name})]
    v.remove()
    assert name not in [x.name for x in client.volumes.list(filters={"name": name})]


@pytest.mark.feature("containers")
def test_volume_tmpfs_driver_opts(eng):
    """A local volume with --opt type=tmpfs is a tmpfs inside the container."""
    name = eng.name("vol")
    eng.out("volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=1m", name)
    out = eng.out("run", "--rm", "-v", f"{name}:/t", "busybox", "grep", " /t ", "/proc/mounts")
    assert out.split()[2] == "tmpfs"


# ------------------------------------------------------------------ binds and tmpfs


@pytest.mark.feature("containers", "binds")
def test_bind_read_only(eng, tmp_path):
    """`-v /host/dir:/data:ro`: the host file is readable, writing is refused."""
    (tmp_path / "f").write_text("host data\n")
    p = eng.cli("run", "--rm", "-v", f"{tmp_path}:/data:ro", "busybox", "sh", "-c", "cat /data/f; touch /data/g")
    assert p.stdout == "host data\n" and "Read-only file system" in p.stderr
    assert not (tmp_path / "g").exists()


@pytest.mark.feature("containers", "binds")
def test_bind_read_write(eng, tmp_path):
    """`-v /host/dir:/data`: a file written inside appears on the host."""
    eng.out("run", "--rm", "-v", f"{tmp_path}:/data", "busybox", "sh", "-c", "echo inside > /data/out")
    assert (tmp_path / "out").read_text() == "inside\n"
    (tmp_path / "out").unlink()


@pytest.mark.feature("containers", "binds")
def test_bind_missing_source_created_with_v(eng, tmp_path):
    """`-v /missing/dir:/data` creates the missing host directory (as dockerd does for -v)."""
    src = tmp_path / "created-by-engine"
    eng.out("run", "--rm", "-v", f"{src}:/data", "busybox", "true")
    assert src.is_dir()


@pytest.mark.feature("containers", "binds")
def test_mount_bind_missing_source(eng, tmp_path):
    """`--mount type=bind` with a missing source fails: 'bind source path does not exist'."""
    src = tmp_path / "missing"
    p = eng.cli("run", "--rm", "--mount", f"type=bind,src={src},dst=/x", "busybox", "true")
    assert p.returncode == 125
    assert f"bind source path does not exist: {src}" in p.stderr
    assert not src.exists()


@pytest.mark.feature("containers", "binds")
def test_mount_bind_readonly(eng, tmp_path):
    """`--mount type=bind,...,readonly` is read-only; inspect shows RW false."""
    c = eng.name("c")
    p = eng.cli(
        "run", "--name", c, "--mount", f"type=bind,src={tmp_path},dst=/ro,readonly", "busybox", "touch", "/ro/x"
    )
    assert p.returncode == 1
    m = eng.inspect(c)["Mounts"][0]
    assert (m["Type"], m["Source"], m["Destination"], m["RW"]) == ("bind", str(tmp_path), "/ro", False)


@pytest.mark.feature("containers", "binds")
def test_tmpfs(eng):
    """--tmpfs /t:size=1m is a tmpfs of that size."""
    out = eng.out(
        "run", "--rm", "--tmpfs", "/t:size=1m", "busybox", "sh", "-c", "grep ' /t ' /proc/mounts; df -k /t | tail -1"
    )
    mount, df = out.splitlines()
    assert mount.split()[2] == "tmpfs"
    assert df.split()[1] == "1024"


@pytest.mark.feature("containers", "binds")
def test_mount_tmpfs(eng):
    """--mount type=tmpfs,dst=/t works too and is listed in inspect Mounts as tmpfs."""
    c = eng.name("c")
    out = eng.out("run", "--name", c, "--mount", "type=tmpfs,dst=/t", "busybox", "sh", "-c", "grep ' /t ' /proc/mounts")
    assert out.split()[2] == "tmpfs"
    assert eng.inspect(c)["HostConfig"]["Mounts"][0]["Type"] == "tmpfs"


def test_prune_v141_removes_named(eng):
    """At /v1.41 volume prune removes unused named volumes too (dockerd 20.10's behaviour)."""
    name = eng.name("vol")
    eng.out("volume", "create", "--label", f"compat.p41={eng.scenario_prefix}", name)
    flt = urllib.parse.quote(json.dumps({"label": {f"compat.p41={eng.scenario_prefix}": True}}))
    r = eng.http("POST", f"/v1.41/volumes/prune?filters={flt}")
    assert r.status == 200 and name in (r.json()["VolumesDeleted"] or [])


@pytest.mark.api("1.42")
def test_prune_v142_keeps_named(eng):
    """From /v1.42 volume prune takes only anonymous volumes unless the filter all=true is given."""
    name = eng.name("vol")
    eng.out("volume", "create", "--label", f"compat.p42={eng.scenario_prefix}", name)
    label = {f"compat.p42={eng.scenario_prefix}": True}
    r = eng.http("POST", f"/v1.42/volumes/prune?filters={urllib.parse.quote(json.dumps({'label': label}))}")
    assert r.status == 200 and name not in (r.json()["VolumesDeleted"] or [])
    assert eng.cli("volume", "inspect", name).returncode == 0
    flt = urllib.parse.quote(json.dumps({"label": label, "all": {"true": True}}))
    r = eng.http("POST", f"/v1.42/volumes/prune?filters={flt}")
    assert name in (r.json()["VolumesDeleted"] or [])


@pytest.mark.feature("containers", "binds")
def test_bind_single_file(eng, tmp_path):
    """A single host file can be bind-mounted read-only: `-v /host/file:/x:ro`."""
    f = tmp_path / "single"
    f.write_text("one file\n")
    p = eng.cli("run", "--rm", "-v", f"{f}:/x:ro", "busybox", "sh", "-c", "cat /x; echo more >> /x")
    assert p.stdout == "one file\n" and "Read-only file system" in p.stderr
    assert f.read_text() == "one file\n"


def test_prune_nothing_answers_an_empty_list(eng):
    """POST /volumes/prune that removes nothing: VolumesDeleted is [] (clients iterate it), not null."""
    flt = urllib.parse.quote(json.dumps({"label": [f"cmp.none={eng.name('nolabel')}"]}))
    r = eng.http("POST", f"{V}/volumes/prune?filters={flt}")
    assert r.status == 200 and r.json()["VolumesDeleted"] == [], r
