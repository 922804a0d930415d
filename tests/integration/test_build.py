"""docker build (the classic builder) through a real shimd with the real docker CLI and docker-py."""

from __future__ import annotations

import io
import json
import tarfile

import docker
import pytest

EVERYTHING = """\
# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM ${BASE} AS base
LABEL stage=base
RUN echo from-base > /base.txt

FROM ${BASE}
MAINTAINER someone <someone@example.com>
ARG GREETING=hello
ENV APP=/app \\
    MODE=${GREETING:-none}
WORKDIR $APP
COPY --chown=nobody:nogroup a.txt ./
COPY dir/ ./dir/
ADD archive.tar /unpacked/
COPY --from=base /base.txt /from-base.txt
RUN echo "$GREETING $MODE" > greeting.txt && ls -l a.txt | awk '{print $3}' > owner.txt
USER nobody
EXPOSE 8080/tcp 53/udp
VOLUME ["/data"]
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD ["true"]
SHELL ["/bin/sh", "-c"]
ONBUILD RUN echo triggered > /tmp/onbuild.txt
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/greeting.txt /app/owner.txt /from-base.txt /unpacked/inner.txt /app/dir/sub/f"]
"""


def _tar(files: dict[str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            raw = data.encode() if isinstance(data, str) else data
            ti = tarfile.TarInfo(name)
            ti.size = len(raw)
            ti.mode = 0o644
            tar.addfile(ti, io.BytesIO(raw))
    return buf.getvalue()


@pytest.fixture
def ctx(tmp_path):
    (tmp_path / "a.txt").write_text("a\n")
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "dir" / "sub" / "f").write_text("deep\n")
    (tmp_path / "archive.tar").write_bytes(_tar({"inner.txt": "unpacked\n"}))
    (tmp_path / "Dockerfile").write_text(EVERYTHING)
    return tmp_path


def _build(shimd, *args, check=True):
    return shimd.cli("build", *args, check=check, timeout=300)


def _containers(shimd) -> set[str]:
    return set(shimd.cli("ps", "-aq").stdout.split())


def test_every_instruction_builds_runs_and_inspects(shimd, ctx, unique):
    tag = unique("b")
    before = _containers(shimd)
    out = _build(shimd, "-t", tag, str(ctx)).stdout
    assert "Step 1/23 : ARG BASE=busybox" in out
    assert " ---> Running in " in out and "Removing intermediate container" in out
    assert f"Successfully tagged {tag}:latest" in out
    assert _containers(shimd) == before  # intermediate containers removed
    run = shimd.cli("run", "--rm", tag).stdout
    assert run.split("\n")[:5] == ["hello hello", "nobody", "from-base", "unpacked", "deep"]
    cfg = json.loads(shimd.cli("image", "inspect", tag, "--format", "{{json .Config}}").stdout)
    assert cfg["WorkingDir"] == "/app"
    assert cfg["User"] == "nobody"
    assert cfg["StopSignal"] == "SIGINT"
    assert cfg["Entrypoint"] == ["/bin/sh", "-c"]
    assert cfg["Volumes"] == {"/data": {}}
    assert cfg["ExposedPorts"] == {"53/udp": {}, "8080/tcp": {}}
    assert cfg["Healthcheck"] == {
        "Test": ["CMD", "true"],
        "Interval": 30_000_000_000,
        "Timeout": 3_000_000_000,
        "Retries": 2,
    }
    assert "APP=/app" in cfg["Env"] and "MODE=hello" in cfg["Env"]
    assert not any(e.startswith("GREETING=") for e in cfg["Env"])  # build args are not persisted
    assert cfg["OnBuild"] == ["RUN echo triggered > /tmp/onbuild.txt"]
    history = shimd.cli("history", "--no-trunc", "--format", "{{.CreatedBy}}", tag).stdout.splitlines()
    files = "/app/greeting.txt /app/owner.txt /from-base.txt /unpacked/inner.txt /app/dir/sub/f"
    assert history[0] == f'/bin/sh -c #(nop)  CMD ["cat {files}"]'
    assert any(h.startswith("|1 GREETING=hello /bin/sh -c echo") for h in history)
    assert any(
        h.startswith("/bin/sh -c #(nop) COPY --chown=nobody:nogroup file:") and h.endswith(" in ./ ") for h in history
    )

    # a second build: all cache hits, the same image
    again = _build(shimd, "-t", tag, str(ctx)).stdout
    first_id = shimd.cli("image", "inspect", tag, "--format", "{{.Id}}").stdout.strip()
    assert again.count(" ---> Using cache") == 20
    assert f"Successfully built {first_id[7:19]}" in again

    # ONBUILD triggers in a child build
    child = unique("c")
    (ctx / "Dockerfile.child").write_text(f"FROM {tag}\nUSER root\nRUN cat /tmp/onbuild.txt\n")
    out = _build(shimd, "-t", child, "-f", str(ctx / "Dockerfile.child"), str(ctx)).stdout
    assert "# Executing 1 build trigger" in out and "triggered" in out
    shimd.cli("rmi", child, tag)


def test_changed_file_busts_exactly_the_steps_after_it(shimd, tmp_path, unique):
    (tmp_path / "one").write_text("1")
    (tmp_path / "two").write_text("2")
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nENV A=1\nCOPY one /one\nRUN cat /one\nCOPY two /two\nRUN cat /two\n"
    )
    tag = unique("bust")
    _build(shimd, "-t", tag, str(tmp_path))
    (tmp_path / "two").write_text("22")
    out = _build(shimd, "-t", tag, str(tmp_path)).stdout
    assert out.count("Using cache") == 3  # ENV, COPY one, RUN cat /one
    assert "22" in out
    nocache = _build(shimd, "--no-cache", "-t", tag, str(tmp_path)).stdout
    assert "Using cache" not in nocache
    shimd.cli("rmi", tag)


def test_quiet_target_stdin_and_failures(shimd, tmp_path, unique):
    (tmp_path / "Dockerfile").write_text("FROM busybox AS one\nRUN touch /one\nFROM busybox\nRUN exit 3\n")
    quiet = _build(shimd, "-q", "--target", "one", str(tmp_path)).stdout.strip()
    assert quiet.startswith("sha256:") and len(quiet) == 71
    before = _containers(shimd)
    failed = _build(shimd, "--force-rm", str(tmp_path), check=False)
    assert failed.returncode == 3
    assert "The command '/bin/sh -c exit 3' returned a non-zero code: 3" in failed.stderr
    assert _containers(shimd) == before
    stdin = shimd.cli("build", "-", input="FROM busybox\nRUN echo from-stdin\n").stdout
    assert "from-stdin" in stdin
    unknown = _build(shimd, "-", check=False)  # no Dockerfile at all on stdin
    assert unknown.returncode != 0
    bad = shimd.cli("build", "-", input="FROM busybox\nFROBNICATE x\n", check=False)
    assert "unknown instruction: FROBNICATE" in bad.stderr
    missing = shimd.cli("build", "-", input="FROM nosuchimage-xyz\n", check=False)
    assert "Step 1/1 : FROM nosuchimage-xyz" in missing.stdout
    # a Hub name: the registry client tries the Hub (test daemons reach nothing but loopback)
    assert missing.returncode == 1 and 'Get "https://registry-1.docker.io/v2/"' in missing.stderr
    bk = shimd.cli("build", "-", input="FROM busybox\nRUN --mount=type=cache,target=/x true\n", check=False)
    assert "the --mount option requires BuildKit" in bk.stderr
    heredoc = shimd.cli("build", "-", input="FROM busybox\nRUN <<EOF\necho hi\nEOF\n", check=False)
    assert "require BuildKit" in heredoc.stderr
    assert _containers(shimd) == before


def test_dockerignore_applied_in_the_daemon(shimd, unique):
    """docker-py sends what it is given: the daemon drops what .dockerignore excludes."""
    body = _tar(
        {
            "Dockerfile": "FROM busybox\nCOPY . /ctx\nRUN find /ctx -type f | sort\n",
            ".dockerignore": "secret*\n**/*.log\n!keep.log\nDockerfile\n",
            "secret.txt": "x",
            "sub/a.log": "x",
            "keep.log": "k",
            "ok.txt": "ok",
        }
    )
    status, _, raw = shimd.http("POST", "/build?rm=1", body, {"Content-Type": "application/x-tar"})
    assert status == 200
    lines = [json.loads(x) for x in raw.decode().splitlines() if x.strip()]
    text = "".join(x.get("stream", "") for x in lines)
    assert "/ctx/ok.txt" in text and "/ctx/keep.log" in text and "/ctx/.dockerignore" in text
    assert "secret" not in text and "a.log" not in text and "/ctx/Dockerfile" not in text
    assert lines[-2]["aux"]["ID"].startswith("sha256:") or any("aux" in x for x in lines)


def test_hostile_contexts_and_paths(shimd, unique):
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as tar:
        ti = tarfile.TarInfo("../escape")
        ti.size = 1
        tar.addfile(ti, io.BytesIO(b"x"))
    status, _, raw = shimd.http("POST", "/build", evil.getvalue())
    assert status == 400 and b"outside" in raw
    link = io.BytesIO()
    with tarfile.open(fileobj=link, mode="w") as tar:
        df = b"FROM busybox\nCOPY passwd-link /x\nRUN cat /x\n"
        ti = tarfile.TarInfo("Dockerfile")
        ti.size = len(df)
        tar.addfile(ti, io.BytesIO(df))
        ti = tarfile.TarInfo("passwd-link")
        ti.type, ti.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(ti)
    status, _, raw = shimd.http("POST", "/build", link.getvalue())
    assert status == 200
    assert b"root:x:0:0" not in raw  # the link resolves inside the context: nothing there
    assert b"file not found in build context" in raw
    up = _tar({"Dockerfile": "FROM busybox\nCOPY ../x /x\n"})
    status, _, raw = shimd.http("POST", "/build", up)
    assert b"forbidden path outside the build context" in raw
    status, _, raw = shimd.http("POST", "/build?t=BAD:Tag", up)
    assert status == 400 and b"invalid reference format" in raw


def test_buildkit_endpoints_name_the_fix(shimd):
    for path in ("/session", "/grpc"):
        status, _, raw = shimd.http("POST", path)
        assert status == 404
        assert json.loads(raw)["message"] == (
            "BuildKit is not supported by this daemon: set DOCKER_BUILDKIT=0 to use the classic builder"
        )
    status, headers, _ = shimd.http("GET", "/_ping")
    assert headers.get("builder-version") == "1"


def test_docker_py_build_and_build_error(shimd, tmp_path, unique):
    client = shimd.client
    tag = unique("py")
    image, logs = client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN echo py-log\n"), tag=tag, rm=True)
    assert tag + ":latest" in image.tags
    assert any("py-log" in (x.get("stream") or "") for x in logs)
    (tmp_path / "Dockerfile").write_text('FROM busybox\nCOPY f /f\nCMD ["cat", "/f"]\n')
    (tmp_path / "f").write_text("from-path")
    image2, _ = client.images.build(path=str(tmp_path), tag=tag + "-2")
    assert client.containers.run(image2.id, remove=True) == b"from-path"
    with pytest.raises(docker.errors.BuildError, match="returned a non-zero code: 7"):
        client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 7\n"), forcerm=True)
    client.images.remove(tag)
    client.images.remove(tag + "-2")


def test_builder_prune_and_system_df(shimd, unique):
    shimd.cli("build", "-", input=f"FROM busybox\nRUN echo {unique('p')} > /x\n")
    df = json.loads(shimd.http("GET", "/system/df")[2])
    assert any(r["Type"] == "regular" and "echo" in r["Description"] for r in df["BuildCache"])
    out = shimd.cli("builder", "prune", "-f").stdout
    assert "Total reclaimed space" in out
    df = json.loads(shimd.http("GET", "/system/df")[2])
    assert all(r["InUse"] for r in df["BuildCache"])
