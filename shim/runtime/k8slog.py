"""Runtime adapter (pure): conmon's k8s-file log lines turned into what `docker logs` sends, in bulk.

A line is `<time> <stdout|stderr> <F|P> <payload>\\n`: the time is RFC 3339 with nanoseconds and a
`±hh:mm` zone (shimd starts conmon with TZ=UTC, so `+00:00`), `F` a whole line whose newline is
the payload's own, `P` a partial line (the process wrote no newline yet) whose newline conmon
added. conmon stamps every line of one read of the container's pipe (up to 8 KiB) with the same
time (ctr_logging.c write_k8s_log), so a block of the file is a run of *segments*: consecutive
lines with the same time, stream and tag, ~128 lines each for 64-byte lines.

Everything here works per segment with C-speed bytes operations (find, rfind, count, replace),
never per line: stripping the prefixes of a segment is one `replace` of `\\n<prefix>`, and
consecutive segments of one stream become one stdcopy frame. A payload cannot contain `\\n`, so
`\\n<prefix>` only ever matches at the start of a line; a segment whose lines are not all
contiguous with that prefix (never seen: conmon's times are per read) falls back to a line loop.

`--since`/`--until` compare a segment's time (text comparison for UTC times, a parse otherwise),
`-t` puts Docker's RFC3339NanoFixed time (`2006-01-02T15:04:05.000000000Z`, what dockerd 20.10's
WriteLogStream prints) before each line, `--details` the attributes and a space.
"""

from __future__ import annotations

import dataclasses
import functools

from shim.times import NS, parse_rfc3339_nano

# How far ahead to look for the last line of a segment (rfind scans back from there): twice the
# previous segment's length, at least _WINDOW. conmon's reads are at most 8 KiB of output, ~15 KiB
# with the prefixes of 64-byte lines; a longer segment is found in several steps.
_WINDOW = 4096
_STREAMS = {b"stdout": 1, b"stderr": 2}


@dataclasses.dataclass(slots=True)
class Render:
    """What a read wants: streams, a time window (unix ns, 0 = open), timestamps, details prefix."""

    stdout: bool = True
    stderr: bool = True
    since: int = 0
    until: int = 0
    timestamps: bool = False
    details: bytes | None = None  # `docker logs --details`: "k=v,..." (b"" when there are none)
    _since_text: bytes = b""
    _until_text: bytes = b""
    # streams whose last rendered record was partial: their next record goes on with that line
    # (no time or details of its own, as dockerd's one entry per line of under 16 KiB)
    _open: set[int] = dataclasses.field(default_factory=set)

    def __post_init__(self) -> None:
        # UTC times compare as text: `2026-12-05T01:09:21.123456789` is fixed-width
        self._since_text = _fixed_utc(self.since) if self.since else b""
        self._until_text = _fixed_utc(self.until) if self.until else b""


def _fixed_utc(ns: int) -> bytes:
    import time

    secs, frac = divmod(ns, NS)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)).encode() + b".%09d" % frac


@functools.lru_cache(maxsize=64)
def docker_time(ts: bytes) -> bytes:
    """conmon's time as dockerd prints it with `-t`: UTC, nine fraction digits, `Z`."""
    if len(ts) == 35 and ts.endswith(b"+00:00"):
        return ts[:29] + b"Z"
    return _fixed_utc(parse_rfc3339_nano(ts.decode())) + b"Z"


def _utc_text(ts: bytes) -> bytes | None:
    """The comparable UTC text of a conmon time, when it is UTC already (the usual case)."""
    return ts[:29] if len(ts) == 35 and ts.endswith(b"+00:00") else None


def _before(ts: bytes, text: bytes, ns: int) -> bool:
    utc = _utc_text(ts)
    if utc is not None:
        return utc < text
    return parse_rfc3339_nano(ts.decode()) < ns


def _after(ts: bytes, text: bytes, ns: int) -> bool:
    utc = _utc_text(ts)
    if utc is not None:
        return utc > text
    return parse_rfc3339_nano(ts.decode()) > ns


class Sink:
    """Collects (stream, bytes) pieces, merging consecutive pieces of one stream."""

    __slots__ = ("_parts", "_stream", "chunks")

    def __init__(self) -> None:
        self.chunks: list[tuple[int, bytes]] = []
        self._parts: list[bytes] = []
        self._stream = 0

    def add(self, stream: int, data: bytes) -> None:
        if stream != self._stream:
            self.flush()
            self._stream = stream
        self._parts.append(data)

    def flush(self) -> None:
        if self._parts:
            self.chunks.append((self._stream, b"".join(self._parts)))
            self._parts = []

    def take(self) -> list[tuple[int, bytes]]:
        self.flush()
        out, self.chunks = self.chunks, []
        return out


def render(block: bytes, r: Render, sink: Sink) -> bool:
    """Render the complete lines of `block` (it ends with a newline) into `sink`. Returns False
    once a line after `until` was met: the read ends there (json-file's reader stops at the first
    message after Until, whatever its stream)."""
    pos, n = 0, len(block)
    window = 4 * _WINDOW
    while pos < n:
        sp = block.find(b" ", pos)
        nl = block.find(b"\n", pos)
        if sp < 0 or nl < 0 or nl < sp + 10 or block[sp + 7 : sp + 8] != b" " or block[sp + 9 : sp + 10] != b" ":
            pos = n if nl < 0 else nl + 1  # not a k8s-file line (torn or foreign): skipped
            continue
        stream = _STREAMS.get(block[sp + 1 : sp + 7], 0)
        tag = block[sp + 8 : sp + 9]
        if not stream or tag not in (b"F", b"P"):
            pos = nl + 1
            continue
        prefix = block[pos : sp + 10]
        end = _segment_end(block, pos, prefix, nl, window)
        window = max(_WINDOW, 2 * (end - pos))
        ts = block[pos:sp]
        new = b""
        if r.timestamps:
            new = docker_time(ts) + b" "
        if r.details is not None:
            new += r.details + b" "
        body = block[pos + len(prefix) : end]
        sep = b"\n" + prefix
        # partial records (P) are pieces of one line: they lose the newline conmon added
        rep = b"\n" + new if tag == b"F" else b""
        out = body.replace(sep, rep) if tag == b"F" else body[:-1].replace(sep, rep)
        # every line of the segment carried the prefix iff each but the first had one replaced
        joins = body.count(b"\n") - 1
        if len(out) != len(body) - (tag == b"P") + joins * (len(rep) - len(sep)):
            for line in block[pos:end].splitlines(keepends=True):  # not one run after all: line by line
                if not render(line, r, sink):
                    return False
            pos = end
            continue
        if r.until and _after(ts, r._until_text, r.until):
            return False
        if not (r.since and _before(ts, r._since_text, r.since)) and (r.stdout if stream == 1 else r.stderr):
            sink.add(stream, new + out if new and stream not in r._open else out)
            if tag == b"P":
                r._open.add(stream)
            else:
                r._open.discard(stream)
        pos = end
    return True


def _segment_end(block: bytes, pos: int, prefix: bytes, first_nl: int, window: int) -> int:
    """End (after its newline) of the run of lines starting at `pos` that share `prefix`."""
    sep = b"\n" + prefix
    end = first_nl + 1
    while block.startswith(prefix, end):
        last = block.rfind(sep, end - 1, min(len(block), end + window))
        nl = block.find(b"\n", last + len(sep))
        if nl < 0:  # a block holds whole lines only
            return len(block)
        end = nl + 1  # render() checks that every line up to here carried the prefix
    return end


def tail_offset(block: bytes, lines: int, *, newest: bool = True) -> tuple[int, int]:
    """Where the last `lines` lines of `block` (whole records from its start) begin, scanning back
    from its end: (offset, lines still wanted before this block). Bytes after the last newline
    don't count; a partial record is not a line of its own (`line_end_back`)."""
    end = block.rfind(b"\n") + 1
    if lines <= 0:
        return end, 0
    off, left = line_end_back(block, lines + 1, newest=newest)
    return (off, 0) if left == 0 else (0, left - 1)


# A partial record: conmon cut the line at the end of one read of the pipe (up to 8 KiB), and the
# line goes on in the next record(s) up to an F. Found by its stream-and-tag text (bytes.find, C
# speed: a regex over a 2 MiB block took 8 ms), which is a record's head when no space precedes
# it on its line (the time has none; a payload may hold the same text, after a space).
_P_TAGS = (b" stdout P ", b" stderr P ")


def partial_ends(block: bytes, start: int, end: int) -> list[int]:
    """The newlines that end partial (P) records among the whole records of block[start:end]."""
    out = []
    for tag in _P_TAGS:
        i = block.find(tag, start, end)
        while i >= 0:
            head = max(start, block.rfind(b"\n", start, i) + 1)
            nl = block.find(b"\n", i, end)
            if block.find(b" ", head, i) < 0:
                out.append(nl)
            i = block.find(tag, nl + 1, end)
    return out


def line_end_back(block: bytes, need: int, *, start: int = 0, newest: bool = False) -> tuple[int, int]:
    """Scan the whole records of block[start:] back from its last newline for `need` line ends:
    (the offset just after the need-th, 0), or (start, how many are still needed before it).

    A line ends with an F record: the newlines of P records inside a long line (or one cut by a
    read) are not line ends, or `--tail 5` of `seq 3000` could give four lines and `--tail 1` of a
    20 KB line its last 8 KiB only. `newest`: block ends the newest file, whose last record ends
    a line even if partial (the process has not written its newline yet, or never will).
    dockerd's json-file counts its entries, which are lines as long as a line is under 16 KiB."""
    end = block.rfind(b"\n", start) + 1
    if end <= start:
        return start, need
    partial = set(partial_ends(block, start, end))
    if newest:
        partial.discard(end - 1)
    have = block.count(b"\n", start, end) - len(partial)
    if have < need:
        return start, need - have
    pos = end
    while True:
        pos = block.rfind(b"\n", start, pos)
        if pos not in partial:
            need -= 1
            if need == 0:
                return pos + 1, 0
