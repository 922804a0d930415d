"""Unit: k8s-file blocks rendered in bulk (segments, partial lines, filters, timestamps, details, tail)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shim.runtime.k8slog import Render, Sink, docker_time, render, tail_offset
from shim.times import parse_rfc3339_nano


def ts(n: int, zone: str = "+00:00") -> bytes:
    return f"2026-12-05T01:09:21.{n:09d}{zone}".encode()


def line(n: int, stream: str, tag: str, text: str, zone: str = "+00:00") -> bytes:
    return ts(n, zone) + f" {stream} {tag} {text}\n".encode()


def run(block: bytes, **kw) -> tuple[list[tuple[int, bytes]], bool]:
    sink = Sink()
    going = render(block, Render(**kw), sink)
    return sink.take(), going


def test_segments_of_one_stream_become_one_chunk():
    block = line(1, "stdout", "F", "a") + line(1, "stdout", "F", "b") + line(2, "stdout", "F", "c")
    assert run(block) == ([(1, b"a\nb\nc\n")], True)


def test_streams_alternate_in_file_order():
    block = line(1, "stdout", "F", "o1") + line(2, "stderr", "F", "e1") + line(3, "stdout", "F", "o2")
    assert run(block)[0] == [(1, b"o1\n"), (2, b"e1\n"), (1, b"o2\n")]
    assert run(block, stdout=False)[0] == [(2, b"e1\n")]
    assert run(block, stderr=False)[0] == [(1, b"o1\no2\n")]


def test_partial_lines_lose_the_added_newline():
    block = line(1, "stdout", "P", "par") + line(2, "stdout", "F", "tial") + line(3, "stdout", "P", "end")
    assert run(block)[0] == [(1, b"partial\nend")]


def test_empty_lines_and_spaces_kept():
    block = line(1, "stdout", "F", "") + line(1, "stdout", "F", "  two  spaces ")
    assert run(block)[0] == [(1, b"\n  two  spaces \n")]


def test_foreign_and_torn_lines_are_skipped():
    block = b"garbage\n" + line(1, "stdin", "F", "x") + line(2, "stdout", "X", "y") + line(3, "stdout", "F", "ok")
    assert run(block)[0] == [(1, b"ok\n")]


def test_timestamps_fixed_nine_digits_utc():
    block = line(1200, "stdout", "F", "a") + line(5, "stderr", "F", "b", zone="+02:00")
    out = run(block, timestamps=True)[0]
    assert out == [
        (1, b"2026-12-05T01:09:21.000001200Z a\n"),
        (2, b"2026-12-04T23:09:21.000000005Z b\n"),  # another zone: converted to UTC
    ]
    assert docker_time(ts(0)) == b"2026-12-05T01:09:21.000000000Z"


def test_details_then_timestamps_order():
    block = line(1, "stdout", "F", "a") + line(1, "stdout", "P", "p")
    assert run(block, details=b"k=v")[0] == [(1, b"k=v a\nk=v p")]
    assert run(block, details=b"", timestamps=True)[0] == [
        (1, b"2026-12-05T01:09:21.000000001Z  a\n2026-12-05T01:09:21.000000001Z  p")
    ]


def test_since_and_until_are_inclusive_and_until_ends_the_read():
    block = b"".join(line(n, "stdout", "F", str(n)) for n in (1, 2, 3, 4))
    base = parse_rfc3339_nano(ts(0).decode())
    assert run(block, since=base + 2)[0] == [(1, b"2\n3\n4\n")]
    out, going = run(block, until=base + 2)
    assert out == [(1, b"1\n2\n")] and going is False
    # until stops at the first later entry whatever its stream
    block = line(1, "stdout", "F", "a") + line(2, "stderr", "F", "b") + line(3, "stdout", "F", "c")
    assert run(block, stderr=False, until=base + 1) == ([(1, b"a\n")], False)


def test_since_and_until_in_another_zone():
    block = line(1, "stdout", "F", "x", zone="-05:00")
    at = parse_rfc3339_nano(ts(1, "-05:00").decode())
    assert run(block, since=at)[0] == [(1, b"x\n")]
    assert run(block, since=at + 1)[0] == []


def test_a_prefix_repeated_apart_is_taken_line_by_line():
    """Equal times in two places (never from conmon) must not merge the lines between."""
    block = line(1, "stdout", "F", "a") + line(1, "stderr", "F", "b") + line(1, "stdout", "F", "c")
    assert run(block)[0] == [(1, b"a\n"), (2, b"b\n"), (1, b"c\n")]


def test_long_segments_found_in_steps():
    block = b"".join(line(7, "stdout", "F", "x" * 90) for _ in range(5000))  # ~680 KB in one segment
    assert run(block)[0] == [(1, (b"x" * 90 + b"\n") * 5000)]


@pytest.mark.parametrize("n, want", [(0, (6, 0)), (1, (4, 0)), (2, (2, 0)), (3, (0, 0)), (5, (0, 2))])
def test_tail_offset(n, want):
    assert tail_offset(b"a\nb\nc\npartial", n) == want


_LINES = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.sampled_from(["stdout", "stderr"]),
        st.sampled_from(["F", "P"]),
        st.text(alphabet="ab \t", max_size=5),
    ),
    max_size=40,
)


@given(_LINES)
def test_bulk_equals_line_by_line(lines):
    """Whatever the runs of equal prefixes, the bulk result equals rendering each line alone."""
    block = b"".join(line(n, s, t, x) for n, s, t, x in lines)
    expect, one = Sink(), Render(timestamps=True)  # one read: a partial line goes on across calls
    for n, s, t, x in lines:
        render(line(n, s, t, x), one, expect)
    assert run(block, timestamps=True)[0] == expect.take()


def test_a_line_in_pieces_gets_one_time():
    """conmon cut a line at a read of the pipe: `-t` prints one time before the whole line (dockerd
    writes a line under 16 KiB as one entry), per stream, across blocks."""
    r, sink = Render(timestamps=True), Sink()
    render(line(1, "stdout", "F", "a") + line(2, "stdout", "P", "b1"), r, sink)
    render(line(3, "stderr", "F", "e") + line(4, "stdout", "P", "b2") + line(5, "stdout", "F", "b3"), r, sink)
    t = [docker_time(ts(n)) + b" " for n in range(6)]
    assert sink.take() == [(1, t[1] + b"a\n" + t[2] + b"b1"), (2, t[3] + b"e\n"), (1, b"b2b3\n")]
