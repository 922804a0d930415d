"""docker build through the classic builder (DOCKER_BUILDKIT=0): what the CLI and docker-py show."""

import io
import json

import docker
import pytest

from compat.lib import make_tar

pytestmark = pytest.mark.feature("build")

CLASSIC = {"DOCKER_BUILDKIT": "0"}

DOCKERFILE = """\
FROM busybox
ARG WHO=world
ENV GREETING=hello
WORKDIR /app
COPY greet.txt ./
RUN echo "$GREETING $WHO" > out.txt && cat greet.txt
LABEL cmp.kind=build
EXPOSE 8080
USER nobody
STOPSIGNAL SIGINT
VOLUME /data
ENTRYPOINT ["cat"]
CMD ["/app/out.txt"]
"""


def build(eng, *args, input=None, check=True):
    p = eng.cli("build", *args, input=input, env=CLASSIC, timeout=180)
    if check:
        assert p.returncode == 0, p.stderr
    return p


@pytest.fixture
def ctx(tmp_path):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "greet.txt").write_text("from-context\n")
    return tmp_path


def test_build_runs_and_inspects(eng, ctx):
    """A Dockerfile builds; the image runs and its Config has what the Dockerfile set."""
    tag = eng.name("img")
    out = build(eng, "-t", tag, str(ctx)).stdout
    assert "Step 1/13 : FROM busybox" in out
    assert "from-context" in out
    assert f"Successfully tagged {tag}:latest" in out
    assert eng.out("run", "--rm", tag) == "hello world"
    cfg = json.loads(eng.out("image", "inspect", tag, "--format", "{{json .Config}}"))
    assert cfg["WorkingDir"] == "/app"
    assert cfg["User"] == "nobody"
    assert cfg["StopSignal"] == "SIGINT"
    assert cfg["Entrypoint"] == ["cat"] and cfg["Cmd"] == ["/app/out.txt"]
    assert cfg["Volumes"] == {"/data": {}}
    assert cfg["ExposedPorts"] == {"8080/tcp": {}}
    assert cfg["Labels"] == {"cmp.kind": "build"}
    assert "GREETING=hello" in cfg["Env"] and not any(e.startswith("WHO=") for e in cfg["Env"])


def test_rebuild_is_all_cache_and_same_id(eng, ctx):
    """A second build uses the cache for every step and gives the same image ID."""
    tag = eng.name("img")
    build(eng, "-t", tag, str(ctx))
    first = eng.out("image", "inspect", tag, "--format", "{{.Id}}")
    out = build(eng, "-t", tag, str(ctx)).stdout
    assert out.count("Using cache") == 12
    assert eng.out("image", "inspect", tag, "--format", "{{.Id}}") == first


def test_changed_file_busts_the_steps_after_it(eng, ctx):
    """Changing a copied file re-runs that COPY and what follows, not what precedes it."""
    tag = eng.name("img")
    build(eng, "-t", tag, str(ctx))
    (ctx / "greet.txt").write_text("changed\n")
    out = build(eng, "-t", tag, str(ctx)).stdout
    assert out.count("Using cache") == 3  # ARG, ENV, WORKDIR
    assert "changed" in out


def test_history_created_by(eng, ctx):
    """docker history shows dockerd's created_by for metadata, COPY and RUN steps."""
    tag = eng.name("img")
    build(eng, "-t", tag, str(ctx))
    hist = eng.out("history", "--no-trunc", "--format", "{{.CreatedBy}}", tag).splitlines()
    assert hist[0] == '/bin/sh -c #(nop)  CMD ["/app/out.txt"]'
    assert "/bin/sh -c #(nop)  ENV GREETING=hello" in hist
    assert "/bin/sh -c #(nop) WORKDIR /app" in hist
    assert '|1 WHO=world /bin/sh -c echo "$GREETING $WHO" > out.txt && cat greet.txt' in hist
    assert any(h.startswith("/bin/sh -c #(nop) COPY file:") and h.endswith(" in ./ ") for h in hist)


def test_no_cache_quiet_and_build_args(eng, ctx):
    """--no-cache runs every step; -q prints only the image ID; --build-arg reaches RUN."""
    out = build(eng, "--no-cache", "-q", "--build-arg", "WHO=there", str(ctx)).stdout.strip()
    assert out.startswith("sha256:") and len(out) == 71
    tag = eng.name("img")
    build(eng, "--no-cache", "--build-arg", "WHO=there", "-t", tag, str(ctx))
    assert eng.out("run", "--rm", tag) == "hello there"


def test_unused_build_arg_warned(eng):
    """A --build-arg no ARG consumes is warned about."""
    out = build(eng, "--build-arg", "NOPE=1", "-", input="FROM busybox\nRUN true\n").stdout
    assert "[Warning] One or more build-args [NOPE] were not consumed" in out


def test_multi_stage_target_and_file_flag(eng, tmp_path):
    """Multi-stage with COPY --from, --target stops at a stage, -f names the Dockerfile."""
    (tmp_path / "build.Dockerfile").write_text(
        "FROM busybox AS first\nRUN echo built-in-first > /artifact\n"
        "FROM busybox AS second\nRUN echo second > /second\n"
        'FROM busybox\nCOPY --from=first /artifact /artifact\nCMD ["cat", "/artifact"]\n'
    )
    tag = eng.name("img")
    build(eng, "-f", str(tmp_path / "build.Dockerfile"), "-t", tag, str(tmp_path))
    assert eng.out("run", "--rm", tag) == "built-in-first"
    tgt = eng.name("img")
    build(eng, "-f", str(tmp_path / "build.Dockerfile"), "--target", "second", "-t", tgt, str(tmp_path))
    assert eng.out("run", "--rm", tgt, "cat", "/second") == "second"


def test_failing_run(eng):
    """A failing RUN: the exit code in the message and the CLI's status, no image, with --force-rm no container."""
    before = set(eng.out("ps", "-aq").split())
    images = set(eng.out("images", "-q", "-a").split())
    p = build(eng, "--force-rm", "-", input="FROM busybox\nRUN exit 3\n", check=False)
    assert p.returncode == 3
    assert "The command '/bin/sh -c exit 3' returned a non-zero code: 3" in p.stderr
    assert set(eng.out("ps", "-aq").split()) == before
    assert set(eng.out("images", "-q", "-a").split()) == images


def test_errors(eng):
    """An unknown instruction and a missing base image are clear errors."""
    p = build(eng, "-", input="FROM busybox\nFROBNICATE x\n", check=False)
    assert p.returncode != 0 and "unknown instruction: FROBNICATE" in p.stderr
    p = build(eng, "-", input=f"FROM {eng.name('missing')}:nope\n", check=False)
    assert p.returncode != 0 and "Step 1/1 : FROM" in p.stdout
    p = build(eng, "-f", "nope.Dockerfile", "-", input="FROM busybox\n", check=False)
    assert p.returncode != 0


def test_raw_api_stream(eng):
    """POST /build streams JSON lines: Step lines, the aux ID, and errorDetail with the code."""
    body = make_tar({"Dockerfile": b"FROM busybox\nRUN exit 5\n"})
    r = eng.http("POST", "/v1.41/build?forcerm=1", body, {"Content-Type": "application/x-tar"}, timeout=120)
    assert r.status == 200
    lines = [json.loads(x) for x in r.text.splitlines() if x.strip()]
    assert lines[:2] == [{"stream": "Step 1/2 : FROM busybox"}, {"stream": "\n"}]
    assert lines[-1]["errorDetail"] == {
        "code": 5,
        "message": "The command '/bin/sh -c exit 5' returned a non-zero code: 5",
    }
    ok = make_tar({"Dockerfile": b"FROM busybox\nENV A=1\n"})
    r = eng.http("POST", "/v1.41/build", ok, {"Content-Type": "application/x-tar"}, timeout=120)
    lines = [json.loads(x) for x in r.text.splitlines() if x.strip()]
    aux = [x["aux"]["ID"] for x in lines if "aux" in x]
    assert len(aux) == 1 and aux[0].startswith("sha256:")
    assert lines[-1]["stream"].startswith("Successfully built ")
    eng.http("DELETE", f"/v1.41/images/{aux[0]}")


def test_docker_py_build(eng, client, tmp_path):
    """docker-py images.build returns the image and the log; a failing build raises BuildError."""
    tag = eng.name("img")
    image, logs = client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN echo py-build\n"), tag=tag, rm=True)
    assert f"{tag}:latest" in image.tags
    assert any("py-build" in (x.get("stream") or "") for x in logs)
    (tmp_path / "Dockerfile").write_text('FROM busybox\nCOPY f /f\nCMD ["cat", "/f"]\n')
    (tmp_path / "f").write_text("from-path")
    tag2 = eng.name("img")
    image2, _ = client.images.build(path=str(tmp_path), tag=tag2)
    assert eng.out("run", "--rm", image2.id) == "from-path"
    with pytest.raises(docker.errors.BuildError, match="returned a non-zero code: 7"):
        client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 7\n"), forcerm=True)


def test_builder_prune(eng):
    """docker builder prune -f answers with the reclaimed space."""
    out = eng.cli("builder", "prune", "-f", env=CLASSIC, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Total reclaimed space" in out.stdout
