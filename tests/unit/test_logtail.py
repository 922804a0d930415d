"""Unit: `docker logs --tail N` counts lines, not conmon's records (a line cut by a read of the
pipe is P records then an F), within a block, across blocks of a file and across generations."""

from __future__ import annotations

import itertools
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shim.runtime import logread
from shim.runtime.k8slog import Render, Sink, line_end_back, partial_ends, render, tail_offset
from shim.runtime.logfiles import Gen


def rec(n: int, stream: str, tag: str, text: str) -> bytes:
    return f"2026-12-05T01:09:21.{n:09d}+00:00 {stream} {tag} {text}\n".encode()


def text(block: bytes) -> bytes:
    sink = Sink()
    render(block, Render(), sink)
    return b"".join(chunk for _, chunk in sink.take())


def test_a_line_cut_by_reads_is_one_line():
    # what conmon wrote for `echo first; 20000 a's; echo; echo end` (reads of up to 8 KiB)
    block = rec(1, "stdout", "F", "first") + rec(2, "stdout", "P", "a" * 8192)
    block += rec(3, "stdout", "P", "a" * 8192) + rec(4, "stdout", "F", "a" * 3616) + rec(5, "stdout", "F", "end")
    assert text(block[tail_offset(block, 1)[0] :]) == b"end\n"
    assert text(block[tail_offset(block, 2)[0] :]) == b"a" * 20000 + b"\nend\n"
    assert tail_offset(block, 3) == (0, 0)
    assert tail_offset(block, 4) == (0, 1)


def test_the_newest_partial_record_is_a_line():
    block = rec(1, "stdout", "F", "done") + rec(2, "stdout", "P", "no newline yet")
    assert text(block[tail_offset(block, 1)[0] :]) == b"no newline yet"
    # not the newest file: its last record goes on in the next file
    assert tail_offset(block, 1, newest=False) == (0, 0)
    assert line_end_back(block, 2, newest=False) == (0, 1)


def test_records_before_start_are_not_read():
    block = rec(1, "stdout", "P", "x") + rec(2, "stdout", "F", "y") + rec(3, "stdout", "F", "z")
    start = block.index(b"\n") + 1
    assert line_end_back(block, 1, start=start) == (len(block), 0)
    assert line_end_back(block, 2, start=start) == (start + len(rec(2, "stdout", "F", "y")), 0)
    assert line_end_back(block, 3, start=start) == (start, 1)


def test_a_payload_that_reads_like_a_partial_head_is_text():
    block = rec(1, "stdout", "F", "a") + rec(2, "stderr", "F", "x stdout P y") + rec(3, "stdout", "P", "z stderr P ")
    assert partial_ends(block, 0, len(block)) == [len(block) - 1]
    assert tail_offset(block, 1, newest=False) == (len(rec(1, "stdout", "F", "a")), 0)
    assert tail_offset(block, 1) == (len(block) - len(rec(3, "stdout", "P", "z stderr P ")), 0)


# --- the model: a line is the records up to and including an F (the newest file's last run too)


def lines_of(records: list[tuple[str, str, str]]) -> list[list[int]]:
    out: list[list[int]] = [[]]
    for i, (_, tag, _) in enumerate(records):
        out[-1].append(i)
        if tag == "F":
            out.append([])
    return [x for x in out if x]


RECORDS = st.lists(
    st.tuples(st.sampled_from(["stdout", "stderr"]), st.sampled_from(["F", "P"]), st.text("ab P", max_size=12)),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(records=RECORDS, n=st.integers(1, 35))
def test_tail_in_one_block_is_the_last_lines(records, n):
    block = b"".join(rec(i, s, t, x) for i, (s, t, x) in enumerate(records))
    want = [i for line in lines_of(records)[-n:] for i in line]
    expect = b"".join(rec(i, *records[i]) for i in want)
    assert text(block[tail_offset(block, n)[0] :]) == text(expect)


@settings(max_examples=200, deadline=None)
@given(records=RECORDS, n=st.integers(1, 35), cuts=st.lists(st.integers(0, 30), max_size=3), block=st.integers(8, 200))
def test_tail_across_files_and_blocks(tmp_path_factory, records, n, cuts, block):
    d = tmp_path_factory.mktemp("gens")
    bounds = sorted({0, len(records), *(min(c, len(records)) for c in cuts)})
    gens = []
    for k, (a, b) in enumerate(itertools.pairwise(bounds)):
        p = d / f"{k}"
        p.write_bytes(b"".join(rec(i, *records[i]) for i in range(a, b)))
        gens.append(Gen(str(p), k, os.stat(p).st_ino, os.path.getsize(p), 0))
    if not gens:
        return
    gens[-1].current = True
    old, logread.BLOCK = logread.BLOCK, block  # small blocks: records cut by a block's start
    try:
        i, off = logread._tail_start(gens, n)
    finally:
        logread.BLOCK = old
    got = b"".join([open(gens[i].path, "rb").read()[off:]] + [open(g.path, "rb").read() for g in gens[i + 1 :]])
    want = [j for line in lines_of(records)[-n:] for j in line]
    assert text(got) == text(b"".join(rec(j, *records[j]) for j in want))


def test_an_empty_newest_file_leaves_the_last_record_before_it_the_last_line(tmp_path):
    # `docker start` of a container whose kept log ended without a newline: conmon's new
    # container.log is empty until the container writes again
    old, new = tmp_path / "1", tmp_path / "container.log"
    old.write_bytes(rec(1, "stdout", "F", "a") + rec(2, "stdout", "P", "x"))
    new.write_bytes(b"")
    gens = [Gen(str(old), 1, 1, old.stat().st_size, 0), Gen(str(new), None, 2, 0, 0, current=True)]
    assert logread._tail_start(gens, 1) == (0, len(rec(1, "stdout", "F", "a")))
    assert logread._tail_start(gens, 2) == (0, 0)


@pytest.mark.parametrize("n", [0, 1])
def test_tail_of_nothing(tmp_path, n):
    p = tmp_path / "container.log"
    p.write_bytes(b"")
    assert logread._tail_start([Gen(str(p), None, 1, 0, 0, current=True)], n) == (0, 0)
