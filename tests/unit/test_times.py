"""shim/times.py: Go's RFC 3339 formatting both ways, and dockerd's timestamp grammar for `until`/`since`.

The tables of test_parse_time / test_parse_unix_timestamp are moby's
daemon/internal/timestamp/timestamp_test.go, case for case.
"""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shim import times
from shim.errors import InvalidParameter

# moby's test reference: 2020-01-02T03:04:05.123456789Z
NOW = times.parse_rfc3339_nano("2020-01-02T03:04:05.123456789Z")


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2006-01-02T15:04:05.999999999+07:00", "2006-01-02T08:04:05.999999999Z"),
        ("2006-01-02T15:04:05.999999999Z", "2006-01-02T15:04:05.999999999Z"),
        ("2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05.999999999Z"),
        ("2006-01-02T15:04:05Z", "2006-01-02T15:04:05Z"),
        ("2006-01-02T15:04:05", "2006-01-02T15:04:05Z"),
        ("2006-01-02T15:04:0Z", None),
        ("2006-01-02T15:04:0", None),
        ("2006-01-02T15:04Z", "2006-01-02T15:04:00Z"),
        ("2006-01-02T15:04+00:00", "2006-01-02T15:04:00Z"),
        ("2006-01-02T15:04-00:00", "2006-01-02T15:04:00Z"),
        ("2006-01-02T15:04", "2006-01-02T15:04:00Z"),
        ("2006-01-02T15:0Z", None),
        ("2006-01-02T15:0", None),
        ("2006-01-02T15Z", "2006-01-02T15:00:00Z"),
        ("2006-01-02T15+00:00", "2006-01-02T15:00:00Z"),
        ("2006-01-02T15-00:00", "2006-01-02T15:00:00Z"),
        ("2006-01-02T15", "2006-01-02T15:00:00Z"),
        ("2006-01-02T1Z", "2006-01-02T01:00:00Z"),
        ("2006-01-02T1", "2006-01-02T01:00:00Z"),
        ("2006-01-02TZ", None),
        ("2006-01-02T", None),
        ("2006-01-02+00:00", "2006-01-02T00:00:00Z"),
        ("2006-01-02-00:00", "2006-01-02T00:00:00Z"),
        ("2006-01-02-00:01", "2006-01-02T00:01:00Z"),
        ("2006-01-02Z", "2006-01-02T00:00:00Z"),
        ("2006-01-02", "2006-01-02T00:00:00Z"),
        ("2015-05-13T20:39:09Z", "2015-05-13T20:39:09Z"),
        # unix timestamps
        ("1136073600", "2006-01-01T00:00:00Z"),
        ("1136073600.000000001", "2006-01-01T00:00:00.000000001Z"),
        ("1136073600.00000000000000000001", "2006-01-01T00:00:00Z"),  # max length
        ("1136073600.000000000000000000001", None),  # too long
        # durations, relative to now
        ("-1m", "2020-01-02T03:05:05.123456789Z"),
        ("0m", "2020-01-02T03:04:05.123456789Z"),
        ("1m", "2020-01-02T03:03:05.123456789Z"),
        ("1.5h", "2020-01-02T01:34:05.123456789Z"),
        ("1h30m", "2020-01-02T01:34:05.123456789Z"),
        # invalid
        (" 1136073600 \t", None),
        ("foo.bar", None),
        ("1136073600.bar", None),
        ("1136073600.000000001bar", None),
        ("invalid", None),
        ("", None),
    ],
)
def test_parse_time(value, expected):
    if expected is None:
        with pytest.raises(InvalidParameter):
            times.parse_time(value, NOW, zone_offset=0)
    else:
        assert times.rfc3339_nano(times.parse_time(value, NOW, zone_offset=0)) == expected


def test_parse_time_zone_less_values_are_local():
    # "2006-01-02T15:04" in a zone two hours east of UTC is 13:04 UTC; a zone in the value wins.
    assert times.rfc3339_nano(times.parse_time("2006-01-02T15:04", NOW, zone_offset=7200)) == "2006-01-02T13:04:00Z"
    assert times.rfc3339_nano(times.parse_time("2006-01-02T15:04Z", NOW, zone_offset=7200)) == "2006-01-02T15:04:00Z"
    assert times.parse_time("0", NOW) == 0  # "0" is the epoch, "0s" is now
    assert times.parse_time("0s", NOW) == NOW


@pytest.mark.parametrize(
    "value, message",
    [
        ("2020-13-01", 'parsing time "2020-13-01": month out of range'),
        ("2021-02-29", 'parsing time "2021-02-29": day out of range'),
        ("2020-01-01T25", 'parsing time "2020-01-01T25": hour out of range'),
        ("2020-01-0x", 'parsing time "2020-01-0x" as "2006-01-02": cannot parse "0x" as "02"'),
        ("2020-01-01junk", 'parsing time "2020-01-01junk": extra text: "junk"'),
        ("nonsense", 'failed to parse value as time or duration: invalid seconds "nonsense": invalid syntax'),
        ("", "failed to parse value as time or duration: value is empty"),
    ],
)
def test_parse_time_errors_are_worded_as_dockerd(value, message):
    with pytest.raises(InvalidParameter) as e:
        times.parse_time(value, NOW, zone_offset=0)
    assert str(e.value) == message


@pytest.mark.parametrize(
    "value, secs, nanos",
    [
        ("1136073600", 1136073600, 0),
        ("1136073600.", 1136073600, 0),
        ("1136073600.0", 1136073600, 0),
        ("1136073600.000000001", 1136073600, 1),
        ("1136073600.0000000010", 1136073600, 1),
        ("1136073600.0000000001", 1136073600, 0),
        ("1136073600.0000000009", 1136073600, 0),
        ("1136073600.00000001", 1136073600, 10),
        ("1136073600.1", 1136073600, 100000000),
        (" 1136073600 \t", None, None),
        ("foo.bar", None, None),
        (".0000000009", None, None),
        ("1136073600.bar", None, None),
    ],
)
def test_parse_unix_timestamp(value, secs, nanos):
    if secs is None:
        with pytest.raises(InvalidParameter, match="invalid value for 'since': invalid timestamp"):
            times.parse_unix_timestamp(value, "since")
    else:
        assert times.parse_unix_timestamp(value, "since") == secs * 1_000_000_000 + nanos


def test_parse_unix_timestamp_empty_is_none():
    assert times.parse_unix_timestamp("", "until") is None


@pytest.mark.parametrize(
    "text, ns",
    [
        ("0", 0),
        ("+0", 0),
        ("1ns", 1),
        ("1.5s", 1_500_000_000),
        ("1h30m", 5400 * 10**9),
        ("-2m", -120 * 10**9),
        (".5ms", 500_000),
        ("1µs", 1000),
        ("1μs", 1000),
        ("3us", 3000),
    ],
)
def test_parse_duration(text, ns):
    assert times.parse_duration(text) == ns


@pytest.mark.parametrize(
    "text, message",
    [
        ("", 'time: invalid duration ""'),
        ("10", 'time: missing unit in duration "10"'),
        ("10d", 'time: unknown unit "d" in duration "10d"'),
        (".s", 'time: invalid duration ".s"'),
        ("1h-", 'time: unknown unit "h-" in duration "1h-"'),
        ("-", 'time: invalid duration "-"'),
        ("9999999999999999999h", 'time: invalid duration "9999999999999999999h"'),
    ],
)
def test_parse_duration_errors(text, message):
    with pytest.raises(ValueError) as e:
        times.parse_duration(text)
    assert str(e.value) == message


@pytest.mark.parametrize(
    "ns, text",
    [
        (0, "1970-01-01T00:00:00Z"),
        (1795886212769391443, "2026-11-28T17:16:52.769391443Z"),
        (1795886212500000000, "2026-11-28T17:16:52.5Z"),
        (1795886212000000010, "2026-11-28T17:16:52.00000001Z"),
        (-1, "1969-12-31T23:59:59.999999999Z"),
    ],
)
def test_rfc3339_nano_is_gos_format(ns, text):
    assert times.rfc3339_nano(ns) == text
    assert times.parse_rfc3339_nano(text) == ns


def test_zero_time_and_seconds_format():
    assert times.rfc3339_nano_or_zero(0) == "0001-01-01T00:00:00Z"
    assert times.rfc3339_nano_or_zero(1) == "1970-01-01T00:00:00.000000001Z"
    assert times.rfc3339(1795886212769391443) == "2026-11-28T17:16:52Z"
    assert times.parse_rfc3339_nano(times.ZERO_TIME) == -62135596800 * 10**9


def test_local_format_carries_the_zone():
    text = times.rfc3339_nano_local(1795886212769391443)
    assert times.parse_rfc3339_nano(text) == 1795886212769391443
    assert text.endswith("Z") or text[-6] in "+-"


def test_parse_rfc3339_nano_refuses_what_go_refuses():
    for bad in ("2026-11-28T17:16:52", "2026-11-28 17:16:52Z", "2026-11-28T17:16:60Z", "2026-02-30T00:00:00Z", ""):
        with pytest.raises(ValueError):
            times.parse_rfc3339_nano(bad)


# nanoseconds from year 1 to 9999, the range Go formats with four-digit years
NS_RANGE = st.integers(min_value=-62135596800 * 10**9, max_value=253402300799 * 10**9 + 999_999_999)


@given(NS_RANGE)
def test_format_parse_roundtrip(ns):
    text = times.rfc3339_nano(ns)
    assert times.parse_rfc3339_nano(text) == ns
    assert not text.endswith("0Z") or "." not in text  # the fraction's trailing zeros are trimmed


@given(NS_RANGE)
def test_format_agrees_with_datetime(ns):
    secs, frac = divmod(ns, 10**9)
    dt = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(seconds=secs)
    assert times.rfc3339_nano(ns).startswith(dt.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0"))
    assert times.rfc3339(ns) == times.rfc3339_nano(secs * 10**9)
    assert times.rfc3339_nano(ns).endswith(f"{frac:09d}".rstrip("0") + "Z")


@given(
    st.integers(min_value=-62104060800 * 10**9, max_value=253370764800 * 10**9),  # years 2 to 9998
    st.integers(min_value=-23 * 60, max_value=23 * 60).map(lambda m: m * 60),
    st.integers(min_value=0, max_value=9),
)
def test_parse_any_zone_and_fraction_width(ns, offset, digits):
    """Any zone offset and any fraction width (cut to nanoseconds, as Go) reads back the same instant."""
    secs, frac = divmod(ns, 10**9)
    local = times.rfc3339_nano(secs * 10**9)[:-1]  # the civil time in UTC, no zone
    local_dt = datetime.datetime.fromisoformat(local) + datetime.timedelta(seconds=offset)
    text = local_dt.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0")
    if digits:
        text += "." + f"{frac:09d}"[:digits]
    sign = "+" if offset >= 0 else "-"
    text += f"{sign}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"
    expected = secs * 10**9 + int(f"{frac:09d}"[:digits].ljust(9, "0")) if digits else secs * 10**9
    assert times.parse_rfc3339_nano(text) == expected


@given(st.integers(min_value=0, max_value=4_000_000_000), st.integers(min_value=0, max_value=999_999_999))
def test_unix_timestamps_are_exact(secs, nanos):
    value = f"{secs}.{nanos:09d}"
    assert times.parse_unix_timestamp(value, "since") == secs * 10**9 + nanos
    assert times.parse_time(value, NOW) == secs * 10**9 + nanos


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["s", "m", "h", "ms"]))
def test_durations_are_relative_to_now(n, unit):
    assert times.parse_time(f"{n}{unit}", NOW) == NOW - times.parse_duration(f"{n}{unit}")


@given(st.text(max_size=30))
def test_parse_time_never_crashes(value):
    """Whatever a client sends, the answer is a time or a 400, never another exception."""
    try:
        times.parse_time(value, NOW, zone_offset=3600)
    except InvalidParameter:
        pass
