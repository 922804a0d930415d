"""The Dockerfile front end: Docker's grammar (through its Go parser), instruction checks, the
dispatch state's effects, created_by strings and the query translation."""

import pytest

from shim.engine.build import state as st
from shim.engine.build.dockerfile import DockerfileError, parse, parse_duration
from shim.engine.build.shell import Lex
from shim.engine.model import BuildMessage
from shim.translate import build as tr
from shim.translate.versions import Version


def test_stages_meta_args_directives_and_continuations():
    df = parse("# escape=`\nARG V=1\nFROM busybox AS Base\nRUN echo a `\n  b\nFROM base\n")
    assert df.escape == "`" and df.directives == {"escape": "`"}
    assert [a.original for a in df.meta_args] == ["ARG V=1"]
    assert [s.name for s in df.stages] == ["base", ""]
    assert df.stages[0].commands[0].args == ["echo a   b"]


@pytest.mark.parametrize(
    "text,message",
    [
        ("FROM busybox\nFROBNICATE x\n", "dockerfile parse error on line 2: unknown instruction: FROBNICATE"),
        ("ENV A=1\nFROM busybox\n", "no build stage in current context"),
        ("FROM a b\n", "FROM requires either one or three arguments"),
        ("FROM busybox\nCOPY x\n", "COPY requires at least two arguments"),
        ("FROM busybox\nCOPY --nope=1 a b\n", "unknown flag: --nope"),
        ("FROM busybox\nONBUILD ONBUILD RUN x\n", "Chaining ONBUILD"),
        ("FROM busybox\nSHELL /bin/sh\n", "SHELL requires the arguments to be in JSON form"),
        ("FROM busybox\nRUN <<EOF\nhi\nEOF\n", "require BuildKit"),
        ("   \n", "cannot be empty"),
        ("# only a comment\n", "file with no instructions"),
        ("FROM busybox\nHEALTHCHECK --retries=-1 CMD true\n", "--retries cannot be negative"),
    ],
)
def test_parse_errors(text, message):
    with pytest.raises(DockerfileError, match=message.replace("(", r"\(")):
        parse(text)


def test_buildkit_only_flags_are_kept_for_refusal():
    df = parse("FROM busybox\nRUN --network=none true\nCOPY --link a b\n")
    assert df.stages[0].commands[0].buildkit_flags == ["network"]
    assert df.stages[0].commands[1].buildkit_flags == ["link"]


def test_durations():
    assert parse_duration("1m30s") == 90 * 10**9
    assert parse_duration("500ms") == 500 * 10**6
    with pytest.raises(DockerfileError):
        parse_duration("5")


def _state(args=None):
    s = st.StageState(build_args=st.BuildArgs(args or {}))
    s.begin("", "sha256:x", {"config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]}})
    return s


def _apply(state, line):
    cmd = parse(f"FROM busybox\n{line}\n").stages[0].commands[0]
    return st.apply_metadata(cmd, state, Lex(), [])


def test_metadata_effects_and_commit_messages():
    s = _state()
    assert _apply(s, "ENV A=1 B=${A:-x}") == "ENV A=1 B=x"  # words expand with the env before the step
    assert _apply(s, 'CMD ["a", "b"]') == 'CMD ["a" "b"]'
    assert _apply(s, "ENTRYPOINT /bin/run") == 'ENTRYPOINT ["/bin/sh" "-c" "/bin/run"]'
    assert s.run_config["Cmd"] == ["a", "b"]  # CMD was set in this stage: ENTRYPOINT keeps it
    assert _apply(s, "EXPOSE 80 53/udp") == "EXPOSE 53/udp 80"
    assert s.run_config["ExposedPorts"] == {"53/udp": {}, "80/tcp": {}}
    assert _apply(s, "VOLUME /a /b") == "VOLUME [/a /b]"
    assert _apply(s, "HEALTHCHECK --interval=5s CMD curl x") == (
        "HEALTHCHECK &{Test:[CMD-SHELL curl x] Interval:5s Timeout:0s StartPeriod:0s StartInterval:0s Retries:0}"
    )
    with pytest.raises(Exception, match="Invalid signal"):
        _apply(s, "STOPSIGNAL SIGNOPE")
    assert st.comment_cmd(s, "ENV A=1", single=False) == ["/bin/sh", "-c", "#(nop) ", "ENV A=1"]


def test_build_args_rules():
    args = st.BuildArgs({"FOO": "opt", "UNUSED": "x", "HTTP_PROXY": "p"})
    args.add_arg("FOO", "default")
    args.add_arg("BAR", "b")
    assert args.all_allowed() == {"BAR": "b", "FOO": "opt", "HTTP_PROXY": "p"}
    assert args.filter_allowed(["BAR=set"]) == ["FOO=opt", "HTTP_PROXY=p"]
    # unreferenced proxy args are left out of the cache key
    assert st.prepend_env(args, ["FOO=opt", "HTTP_PROXY=p"], ["/bin/sh", "-c", "x"]) == [
        "|1", "FOO=opt", "/bin/sh", "-c", "x",
    ]  # fmt: skip
    assert args.unused_warning() == "[Warning] One or more build-args [UNUSED] were not consumed\n"


def test_paths_and_cache_compare():
    assert st.normalize_workdir("/a", "b/../c") == "/a/c"
    assert st.normalize_dest("/app", "./") == "/app/"
    assert st.normalize_dest("/app", "x") == "/app/x"
    a = {"Cmd": ["x"], "Env": ["A=1"], "Labels": {"l": "1"}}
    assert st.same_config(a, dict(a, Image="other"))
    assert not st.same_config(a, dict(a, Env=["A=2"]))
    assert st.go_duration(90 * 10**9) == "1m30s"


def test_query_translation():
    q = {"t": "x", "rm": "0", "buildargs": '{"A":null,"B":"b"}', "networkmode": "host", "shmsize": "67108864"}
    opts = tr.options_in(q, lambda n: ["x:1", "y"] if n == "t" else [], "", Version.parse("1.41"))
    assert opts.tags == ["x:1", "y"] and opts.remove is False
    assert opts.build_args == {"A": None, "B": "b"}
    assert opts.host_config["NetworkMode"] == "host" and opts.host_config["ShmSize"] == 67108864
    with pytest.raises(Exception, match="experimental"):
        tr.options_in({"squash": "1"}, lambda n: [], "", Version.parse("1.41"))
    with pytest.raises(Exception, match="DOCKER_BUILDKIT=0"):
        tr.options_in({"version": "2"}, lambda n: [], "", Version.parse("1.41"))
    assert tr.message_out(BuildMessage(error="boom", code=3)) == {
        "errorDetail": {"code": 3, "message": "boom"},
        "error": "boom",
    }
    assert tr.message_out(BuildMessage(aux_id="sha256:1")) == {"aux": {"ID": "sha256:1"}}


def test_build_cache_record_parent_by_version():
    """API 1.42 replaced BuildCache.Parent by Parents (the CHANGELOG: Parent omitted from 1.42)."""
    from shim.engine.model import BuildCacheRecord

    rec = BuildCacheRecord(
        id="a", parent="b", description="d", size=1, in_use=False, created_at=0, last_used_at=0, usage_count=0
    )
    old = tr.cache_record_out(rec, Version.parse("1.41"))
    assert old["Parent"] == "b" and "Parents" not in old
    new = tr.cache_record_out(rec, Version.parse("1.42"))
    assert new["Parents"] == ["b"] and "Parent" not in new
    root = tr.cache_record_out(BuildCacheRecord("c", "", "", 0, False, 0, 0, 0), Version.parse("1.50"))
    assert root["Parents"] is None
