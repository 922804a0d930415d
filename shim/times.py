"""Times as the Docker API writes and reads them: pure, shared by every layer (like shim.labels).

Formatting is Go's: `time.RFC3339Nano` trims the fraction's trailing zeros (and the dot
when nothing is left), seconds-only `time.RFC3339` for volumes' CreatedAt, `Z` for UTC and
`±hh:mm` for other zones. The engine keeps times as integer nanoseconds since the epoch;
0 stands for Go's zero time (`0001-01-01T00:00:00Z`) where a field may be unset.

Parsing follows dockerd (daemon/internal/timestamp, formerly api/types/time):
- `parse_time` is `timestamp.Parse`, the grammar of every `until` filter: a Go duration
  relative to now (`10m`, `1h30m`, `-1m`), RFC 3339 with or without zone and fraction and
  with hours/minutes/seconds optional (`2006-01-02`, `2006-01-02T15:04`, `…Z`, `…+07:00`;
  without a zone the daemon's local zone applies), or unix seconds with an optional fraction;
- `parse_unix_timestamp` is `timestamp.ParseUnixTimestamp`, what the `since`/`until` query
  parameters of GET /events and GET /containers/{id}/logs take (the CLI converts first);
- `parse_rfc3339_nano` reads the RFC 3339 texts we store or receive (image `created`, log lines).
"""

from __future__ import annotations

import functools
import re
import time

from shim.errors import InvalidParameter

NS = 1_000_000_000
ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time.Time, what dockerd shows for "never"

# --------------------------------------------------------------------------- formatting


@functools.lru_cache(maxsize=256)  # log lines come many to a second: format each second once
def _civil(secs: int) -> str:
    t = time.gmtime(secs)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"


def _fraction(frac: int) -> str:
    return ("." + f"{frac:09d}".rstrip("0")) if frac else ""


def rfc3339_nano(ns: int) -> str:
    """Go's `t.UTC().Format(time.RFC3339Nano)` of `time.Unix(0, ns)`."""
    secs, frac = divmod(ns, NS)
    return _civil(secs) + _fraction(frac) + "Z"


def rfc3339_nano_or_zero(ns: int) -> str:
    """As rfc3339_nano, with 0 meaning Go's zero time (an unset StartedAt, FinishedAt, …)."""
    return rfc3339_nano(ns) if ns else ZERO_TIME


def rfc3339(ns: int) -> str:
    """Go's `time.RFC3339` in UTC: whole seconds (volumes' CreatedAt)."""
    return _civil(ns // NS) + "Z"


def _zone(offset: int) -> str:
    if offset == 0:
        return "Z"
    sign = "+" if offset > 0 else "-"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def rfc3339_nano_local(ns: int) -> str:
    """Go's `t.Format(time.RFC3339Nano)` in the daemon's local zone (/info's SystemTime)."""
    secs, frac = divmod(ns, NS)
    offset = time.localtime(secs).tm_gmtoff
    return _civil(secs + offset) + _fraction(frac) + _zone(offset)


def now_rfc3339_nano() -> str:
    return rfc3339_nano(time.time_ns())


# --------------------------------------------------------------------------- Go's time.Parse

_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in(month: int, year: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _MONTH_DAYS[month - 1]


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date, any year (Go allows year 0)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _quote(s: str) -> str:
    """Go's strconv.Quote, for error messages."""
    out = []
    for ch in s:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode())
    return '"' + "".join(out) + '"'


class _ParseError(ValueError):
    """Go's time.ParseError, worded as Go words it."""

    def __init__(self, layout: str, value: str, layout_elem: str, value_elem: str, message: str = "") -> None:
        if message:
            text = f"parsing time {_quote(value)}{message}"
        else:
            text = (
                f"parsing time {_quote(value)} as {_quote(layout)}: cannot parse "
                f"{_quote(value_elem)} as {_quote(layout_elem)}"
            )
        super().__init__(text)


_STD = re.compile(r"(2006|01|02|15|04|05|\.999999999|Z07:00)")


def _chunks(layout: str) -> list[tuple[str, str]]:
    """(literal prefix, std element) pairs of a layout; the last element may be ""."""
    parts = _STD.split(layout)
    out = [(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
    out.append((parts[-1], ""))
    return out


def _digit(s: str, i: int) -> bool:
    return i < len(s) and "0" <= s[i] <= "9"


def _getnum(s: str, fixed: bool) -> tuple[int, str]:
    if not _digit(s, 0):
        raise ValueError
    if not _digit(s, 1):
        if fixed:
            raise ValueError
        return int(s[0]), s[1:]
    return int(s[:2]), s[2:]


def _nanoseconds(value: str, nbytes: int) -> int:
    if nbytes > 10:
        nbytes = 10  # Go keeps nanosecond precision and drops further digits
    return int(value[1:nbytes].ljust(9, "0"))


def go_parse(layout: str, value: str, local_offset: int | None = None) -> int:
    """Go's time.Parse (local_offset None) / ParseInLocation with a fixed zone, for the layouts
    dockerd's timestamp parser uses; returns unix nanoseconds, raises ValueError as Go words it."""
    avalue = value
    year, month, day, hour, minute, second, nsec = 0, 1, 1, 0, 0, 0, 0
    offset: int | None = None
    chunks = _chunks(layout)
    for i, (prefix, std) in enumerate(chunks):
        for ch in prefix:
            if not value or value[0] != ch:
                raise _ParseError(layout, avalue, prefix, value)
            value = value[1:]
        if not std:
            if value:
                raise _ParseError(layout, avalue, "", value, ": extra text: " + _quote(value))
            break
        hold, range_err = value, ""
        try:
            if std == "2006":
                if len(value) < 4 or not all("0" <= c <= "9" for c in value[:4]):
                    raise ValueError
                year, value = int(value[:4]), value[4:]
            elif std == "01":
                month, value = _getnum(value, True)
                range_err = "month" if not 1 <= month <= 12 else ""
            elif std == "02":
                day, value = _getnum(value, True)
                range_err = "day" if not 0 <= day <= 31 else ""
            elif std == "15":
                hour, value = _getnum(value, False)
                range_err = "hour" if not 0 <= hour < 24 else ""
            elif std == "04":
                minute, value = _getnum(value, True)
                range_err = "minute" if not 0 <= minute < 60 else ""
            elif std == "05":
                second, value = _getnum(value, True)
                range_err = "second" if not 0 <= second < 60 else ""
                # a fraction the layout does not ask for is still taken (Go's stdSecond case)
                if chunks[i + 1][1] != ".999999999" and len(value) >= 2 and value[0] in ".," and _digit(value, 1):
                    n = 2
                    while _digit(value, n):
                        n += 1
                    nsec, value = _nanoseconds(value, n), value[n:]
            elif std == ".999999999":
                if len(value) >= 2 and value[0] in ".," and _digit(value, 1):
                    n = 1
                    while _digit(value, n):
                        n += 1
                    nsec, value = _nanoseconds(value, n), value[n:]
            elif std == "Z07:00":
                if value[:1] == "Z":
                    offset, value = 0, value[1:]
                else:
                    if len(value) < 6 or value[3] != ":" or value[0] not in "+-":
                        raise ValueError
                    hh, _ = _getnum(value[1:3], True)
                    mm, _ = _getnum(value[4:6], True)
                    # Go compares with > here: offsets of 24 hours or 60 minutes exist in the wild
                    range_err = "time zone offset hour" if hh > 24 else "time zone offset minute" if mm > 60 else ""
                    offset = (hh * 60 + mm) * 60 * (1 if value[0] == "+" else -1)
                    value = value[6:]
        except ValueError:
            raise _ParseError(layout, avalue, std, hold) from None
        if range_err:
            raise _ParseError(layout, avalue, std, value, f": {range_err} out of range")
    if day < 1 or day > _days_in(month, year):
        raise _ParseError(layout, avalue, "", value, ": day out of range")
    secs = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    secs -= offset if offset is not None else (local_offset or 0)
    return secs * NS + nsec


_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:[.,](\d+))?(?:(Z)|([+-])(\d\d):(\d\d))\Z", re.ASCII
)


def parse_rfc3339_nano(text: str) -> int:
    """RFC 3339 with a zone and any fraction (Go's time.RFC3339Nano) to unix nanoseconds."""
    m = _RFC3339.match(text)
    if m is None:  # Go's parser says why
        return go_parse("2006-01-02T15:04:05.999999999Z07:00", text)
    y, mo, d, h, mi, s, frac, z, sign, zh, zm = m.groups()
    month, day, hour, minute, second = int(mo), int(d), int(h), int(mi), int(s)
    if not (1 <= month <= 12 and 1 <= day <= _days_in(month, int(y)) and hour < 24 and minute < 60 and second < 60):
        return go_parse("2006-01-02T15:04:05.999999999Z07:00", text)  # out of range: Go's words
    secs = _days_from_civil(int(y), month, day) * 86400 + hour * 3600 + minute * 60 + second
    if z is None:
        offset = (int(zh) * 60 + int(zm)) * 60
        if int(zh) > 24 or int(zm) > 60:
            return go_parse("2006-01-02T15:04:05.999999999Z07:00", text)
        secs -= offset if sign == "+" else -offset
    return secs * NS + (int(frac[:9].ljust(9, "0")) if frac else 0)


# --------------------------------------------------------------------------- Go's time.ParseDuration

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5
    "μs": 1_000,  # U+03BC
    "ms": 1_000_000,
    "s": NS,
    "m": 60 * NS,
    "h": 3600 * NS,
}
_MAX_DURATION = (1 << 63) - 1


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration (`[-+]?([0-9]*(\\.[0-9]*)?[a-z]+)+`) in nanoseconds; ValueError as Go words it."""
    orig, s, neg = text, text, False
    if s and s[0] in "+-":
        neg, s = s[0] == "-", s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f"time: invalid duration {_quote(orig)}")
    total = 0
    while s:
        if not (s[0] == "." or "0" <= s[0] <= "9"):
            raise ValueError(f"time: invalid duration {_quote(orig)}")
        i = 0
        while _digit(s, i):
            i += 1
        whole = int(s[:i]) if i else 0
        pre, s = i > 0, s[i:]
        frac, scale, post = 0, 1.0, False
        if s[:1] == ".":
            s = s[1:]
            j = 0
            while _digit(s, j):
                if frac <= _MAX_DURATION // 10:  # Go stops accumulating (not failing) on overflow
                    frac, scale = frac * 10 + int(s[j]), scale * 10
                j += 1
            post, s = j > 0, s[j:]
        if not pre and not post:
            raise ValueError(f"time: invalid duration {_quote(orig)}")
        j = 0
        while j < len(s) and not (s[j] == "." or "0" <= s[j] <= "9"):
            j += 1
        if j == 0:
            raise ValueError(f"time: missing unit in duration {_quote(orig)}")
        unit_name, s = s[:j], s[j:]
        unit = _UNITS.get(unit_name)
        if unit is None:
            raise ValueError(f"time: unknown unit {_quote(unit_name)} in duration {_quote(orig)}")
        if whole > (1 << 63) // unit:
            raise ValueError(f"time: invalid duration {_quote(orig)}")
        v = whole * unit
        if frac:
            v += int(float(frac) * (float(unit) / scale))
        total += v
        if total > 1 << 63:
            raise ValueError(f"time: invalid duration {_quote(orig)}")
    if not neg and total > _MAX_DURATION:
        raise ValueError(f"time: invalid duration {_quote(orig)}")
    return -total if neg else total


# --------------------------------------------------------------------------- dockerd's timestamps

_MAX_FRAC_DIGITS = 20  # dockerd: "20 digits would be a full uint64 value"
_INT = re.compile(r"[+-]?[0-9]+\Z")


def _unix(value: str) -> int:
    """dockerd's parseTimestamp: `seconds[.fraction]`; the fraction is cut or padded to nanoseconds."""
    s, dot, n = value.partition(".")
    if not _INT.match(s):
        raise ValueError(f"invalid seconds {_quote(s)}: invalid syntax")
    sec = int(s)
    if not -(1 << 63) <= sec < 1 << 63:
        raise ValueError(f"invalid seconds {_quote(s)}: value out of range")
    if not dot or n in ("", "0", "000000000"):
        return sec * NS
    if len(n) > _MAX_FRAC_DIGITS:
        raise ValueError(f"invalid nanoseconds: length {len(n)} exceeds maximum {_MAX_FRAC_DIGITS}")
    for i, c in enumerate(n):
        if not "0" <= c <= "9":
            raise ValueError(f"invalid nanoseconds: invalid character {c!r} at position {i}")
    return sec * NS + int(n[:9].ljust(9, "0"))


def parse_unix_timestamp(value: str, name: str) -> int | None:
    """GET /events and logs `since`/`until` (timestamp.ParseUnixTimestamp): None when empty."""
    if value == "":
        return None
    try:
        return _unix(value)
    except ValueError as e:
        raise InvalidParameter(f"invalid value for '{name}': invalid timestamp {_quote(value)}: {e}") from None


def parse_time(value: str, now_ns: int | None = None, *, zone_offset: int | None = None) -> int:
    """dockerd's timestamp.Parse (an `until` filter) to unix nanoseconds; InvalidParameter when invalid.

    A value without a zone is read in the daemon's local zone at `now_ns` (Go's
    `time.FixedZone(reference.Zone())`), or `zone_offset` seconds east of UTC when given."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    if zone_offset is None:
        zone_offset = time.localtime(now_ns // NS).tm_gmtoff
    try:
        return _parse_time(value, now_ns, zone_offset)
    except ValueError as e:
        raise InvalidParameter(str(e)) from None


def _parse_time(value: str, now_ns: int, zone_offset: int) -> int:
    if value.strip() == "":
        raise ValueError("failed to parse value as time or duration: value is empty")
    if value != "0":
        try:
            return now_ns - parse_duration(value)
        except ValueError:
            pass
    # "if the string has a Z or a + or three dashes use parse otherwise use parseinlocation"
    in_location = not any(c in value for c in "zZ+") and value.count("-") != 3
    if "." in value:
        layout = "2006-01-02T15:04:05.999999999" if in_location else "2006-01-02T15:04:05.999999999Z07:00"
    elif "T" in value:
        colons = value.count(":")
        if not in_location and not any(c in value for c in "zZ") and colons > 0:
            colons -= 1  # the zone offset's colon
        base = ("2006-01-02T15", "2006-01-02T15:04", "2006-01-02T15:04:05")[min(colons, 2)]
        layout = base if in_location else base + "Z07:00"
    else:
        layout = "2006-01-02" if in_location else "2006-01-02Z07:00"
    try:
        return go_parse(layout, value, zone_offset if in_location else None)
    except ValueError as e:
        if "-" in value:
            raise  # an RFC 3339-like timestamp the parser refused: its own error
        try:
            return _unix(value)
        except ValueError as e2:
            raise ValueError(f"failed to parse value as time or duration: {e2}") from e
