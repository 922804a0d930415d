"""Files in and out: docker cp and the archive endpoints, export, diff, commit."""

import io
import os
import tarfile
import urllib.parse

import pytest

from compat.lib import V, make_tar, stat_header, tar_names

pytestmark = pytest.mark.feature("containers", "cp")


@pytest.fixture(scope="module")
def box(eng):
    name = eng.shared_name("cp")
    eng.out("run", "-d", "--name", name, "busybox", "sleep", "600")
    yield name
    eng.cli("rm", "-f", name)


def q(path):
    return urllib.parse.quote(path, safe="")


def test_cp_file_in(eng, box, tmp_path):
    """`docker cp FILE c:/tmp/` puts the file into the running container."""
    src = tmp_path / "in.txt"
    src.write_text("copied in\n")
    eng.out("cp", str(src), f"{box}:/tmp/")
    assert eng.out("exec", box, "cat", "/tmp/in.txt") == "copied in"


def test_cp_file_out(eng, box, tmp_path):
    """`docker cp c:/etc/passwd DEST` copies the file out with its content."""
    dest = tmp_path / "passwd"
    eng.out("cp", f"{box}:/etc/passwd", str(dest))
    assert dest.read_text().startswith("root:x:0:0:")


def test_cp_dir_out(eng, box, tmp_path):
    """`docker cp c:/etc DEST` copies the directory recursively."""
    eng.out("exec", box, "sh", "-c", "mkdir -p /srv/a/b && echo deep > /srv/a/b/f")
    eng.out("cp", f"{box}:/srv/a", str(tmp_path / "a"))
    assert (tmp_path / "a" / "b" / "f").read_text() == "deep\n"


def test_cp_dir_in(eng, box, tmp_path):
    """`docker cp DIR c:/dest` copies a directory tree in."""
    d = tmp_path / "tree"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "x").write_text("x\n")
    eng.out("cp", str(d), f"{box}:/opt-tree")
    assert eng.out("exec", box, "cat", "/opt-tree/sub/x") == "x"


def test_cp_symlink_out_kept(eng, box, tmp_path):
    """`docker cp c:/bin/sh DEST` copies the symlink as a symlink, with the target it has inside."""
    dest = tmp_path / "sh"
    eng.out("cp", f"{box}:/bin/sh", str(dest))
    target = eng.out("run", "--rm", "busybox", "readlink", "/bin/sh")
    assert dest.is_symlink() and os.readlink(dest) == target


def test_cp_follow_link(eng, box, tmp_path):
    """`docker cp -L c:/bin/sh DEST` follows the link: a regular executable file."""
    dest = tmp_path / "sh"
    eng.out("cp", "-L", f"{box}:/bin/sh", str(dest))
    assert dest.is_file() and not dest.is_symlink() and os.access(dest, os.X_OK)


def test_cp_into_created_container(eng, tmp_path):
    """Files copied into a created (not started) container are there when it runs."""
    name = eng.name("c")
    eng.out("create", "--name", name, "busybox", "cat", "/greeting")
    src = tmp_path / "greeting"
    src.write_text("before start\n")
    eng.out("cp", str(src), f"{name}:/greeting")
    p = eng.cli("start", "-a", name)
    assert (p.returncode, p.stdout) == (0, "before start\n")


def test_cp_missing_path(eng, box, tmp_path):
    """Copying a missing path out: exit 1, 'Could not find the file /nosuch in container c'."""
    p = eng.cli("cp", f"{box}:/nosuch", str(tmp_path / "x"))
    assert p.returncode == 1
    assert f"Could not find the file /nosuch in container {box}" in p.stderr


def test_cp_to_stdout_tar(eng, box):
    """`docker cp c:/etc/hostname -` writes a tar holding that file."""
    p = eng.cli("cp", f"{box}:/etc/hostname", "-", binary=True)
    assert p.returncode == 0
    assert tar_names(p.stdout) == ["hostname"]


def test_archive_head_stat(eng, box):
    """HEAD archive?path=/etc: 200 with X-Docker-Container-Path-Stat (name, dir mode bit)."""
    r = eng.http("HEAD", f"{V}/containers/{box}/archive?path={q('/etc')}")
    assert r.status == 200
    st = stat_header(r.headers)
    assert st["name"] == "etc"
    assert st["mode"] & (1 << 31)  # Go's os.ModeDir
    assert st["mode"] & 0o777 == 0o755


def test_archive_get_file(eng, box):
    """GET archive?path=/etc/passwd: a tar with 'passwd' and a stat header with its size."""
    r = eng.http("GET", f"{V}/containers/{box}/archive?path={q('/etc/passwd')}")
    assert r.status == 200
    st = stat_header(r.headers)
    with tarfile.open(fileobj=io.BytesIO(r.body)) as t:
        m = t.getmember("passwd")
        data = t.extractfile(m).read()
    assert st["size"] == len(data) == m.size and data.startswith(b"root:")


def test_archive_symlink_stat(eng, box):
    """The stat of a symlink carries linkTarget and the symlink mode bit."""
    r = eng.http("HEAD", f"{V}/containers/{box}/archive?path={q('/bin/sh')}")
    st = stat_header(r.headers)
    assert st["linkTarget"] in ("/bin/busybox", "busybox") and st["mode"] & (1 << 27)


def test_archive_put(eng, box):
    """PUT archive?path=/tmp with a tar: 200 and the files appear in the container."""
    data = make_tar({"put-dir": ("dir",), "put-dir/hello": b"put works\n"})
    r = eng.http(
        "PUT",
        f"{V}/containers/{box}/archive?path={q('/tmp')}",
        body=data,
        headers={"Content-Type": "application/x-tar"},
    )
    assert r.status == 200
    assert eng.out("exec", box, "cat", "/tmp/put-dir/hello") == "put works"


def test_archive_put_missing_dest(eng, box):
    """PUT archive into a missing directory: 404."""
    r = eng.http(
        "PUT",
        f"{V}/containers/{box}/archive?path={q('/no/such/dir')}",
        body=make_tar({"f": b"x"}),
        headers={"Content-Type": "application/x-tar"},
    )
    assert r.status == 404


def test_archive_put_dotdot_stays_inside(eng, box, tmp_path):
    """A tar entry with ../ can't escape the container's filesystem."""
    marker = f"cmp-escape-{eng.scenario_prefix}"
    data = make_tar({f"../../../../../../../tmp/{marker}": b"escaped\n"})
    eng.http(
        "PUT",
        f"{V}/containers/{box}/archive?path={q('/tmp')}",
        body=data,
        headers={"Content-Type": "application/x-tar"},
    )
    assert not os.path.exists(f"/tmp/{marker}")


def test_archive_put_through_symlink_stays_inside(eng, box):
    """Extracting through a symlink that points at / resolves inside the container, not on the host."""
    marker = f"cmp-symlink-{eng.scenario_prefix}"
    eng.out("exec", box, "ln", "-sfn", "/", "/tmp/rootlink")
    data = make_tar({f"{marker}": b"inside\n"})
    r = eng.http(
        "PUT",
        f"{V}/containers/{box}/archive?path={q('/tmp/rootlink')}",
        body=data,
        headers={"Content-Type": "application/x-tar"},
    )
    assert r.status == 200
    assert not os.path.exists(f"/{marker}")
    assert eng.out("exec", box, "cat", f"/{marker}") == "inside"


def test_dockerpy_put_get_archive(client, box):
    """docker-py: put_archive then get_archive round-trips a file."""
    c = client.containers.get(box)
    assert c.put_archive("/tmp", make_tar({"py.txt": b"from docker-py\n"})) is True
    chunks, stat = c.get_archive("/tmp/py.txt")
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as t:
        assert t.extractfile("py.txt").read() == b"from docker-py\n"
    assert stat["name"] == "py.txt"


# ------------------------------------------------------------------ export, diff, commit


@pytest.mark.feature("commit_export")
def test_export_lists_files(eng, box):
    """`docker export c | tar t` lists the container's files (bin/busybox, etc/passwd)."""
    p = eng.cli("export", box, binary=True)
    assert p.returncode == 0
    names = {n.rstrip("/").lstrip("./") for n in tar_names(p.stdout)}
    assert {"bin/busybox", "etc/passwd"} <= names


@pytest.mark.feature("commit_export")
def test_diff(eng):
    """`docker diff` shows A for an added file, D for a deleted one, C for changed."""
    name = eng.run_d("busybox", "sh", "-c", "touch /newfile; rm /etc/group; echo x >> /etc/passwd; sleep 300")
    eng.wait_for(lambda: "A /newfile" in eng.cli("diff", name).stdout, what="diff")
    lines = eng.out("diff", name).splitlines()
    for expected in ("A /newfile", "D /etc/group", "C /etc/passwd", "C /etc"):
        assert expected in lines


@pytest.mark.feature("commit_export")
def test_commit_and_run(eng):
    """`docker commit` makes an image in which a new container sees the committed file."""
    name = eng.name("c")
    eng.out("run", "--name", name, "busybox", "sh", "-c", "echo committed > /data.txt")
    ref = f"{eng.name('img')}:1"
    iid = eng.out("commit", name, ref)
    assert iid.startswith("sha256:")
    assert eng.out("run", "--rm", ref, "cat", "/data.txt") == "committed"


@pytest.mark.feature("commit_export")
def test_commit_changes_author_message(eng):
    """`docker commit -a -m -c 'ENV X=1' -c 'CMD ...'`: Author, Comment, Env and Cmd in the image."""
    name = eng.name("c")
    eng.out("create", "--name", name, "busybox", "true")
    ref = f"{eng.name('img')}:1"
    eng.out(
        "commit",
        "-a",
        "compat author",
        "-m",
        "compat message",
        "-c",
        "ENV X=1",
        "-c",
        'CMD ["echo", "from-cmd"]',
        name,
        ref,
    )
    img = eng.inspect(ref, "image")
    assert img["Author"] == "compat author" and img["Comment"] == "compat message"
    assert "X=1" in img["Config"]["Env"] and img["Config"]["Cmd"] == ["echo", "from-cmd"]
    assert eng.out("run", "--rm", ref) == "from-cmd"


@pytest.mark.feature("commit_export")
def test_dockerpy_commit_export(client, eng):
    """docker-py: container.commit() returns an Image; container.export() streams a tar."""
    c = client.containers.create("busybox", "true", name=eng.name("c"))
    img = c.commit(repository=eng.name("img"), tag="py")
    assert img.id.startswith("sha256:")
    data = b"".join(c.export())
    assert "bin/busybox" in {n.lstrip("./") for n in tar_names(data)}


def test_cp_into_missing_dir(eng, box, tmp_path):
    """`docker cp FILE c:/no/such/dir/` exits 1 (no such directory) and writes nothing."""
    src = tmp_path / "f"
    src.write_text("x")
    p = eng.cli("cp", str(src), f"{box}:/no/such/dir/")
    assert p.returncode == 1 and "no such directory" in p.stderr.lower()
