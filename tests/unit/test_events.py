import asyncio
import time

from shim.engine.events import Events, make_event, matches
from shim.translate import events as tre
from shim.translate.versions import Version


def test_container_events_carry_deprecated_fields_below_1_52():
    ev = make_event("container", "start", "c1", {"image": "busybox:latest", "name": "web"}, now_ns=1_500_000_000_123)
    old = tre.event_out(ev, Version(1, 51))
    assert old["status"] == "start" and old["id"] == "c1" and old["from"] == "busybox:latest"
    assert ev["time"] == 1500 and ev["timeNano"] == 1_500_000_000_123 and ev["scope"] == "local"
    new = tre.event_out(ev, Version(1, 52))
    assert not {"status", "id", "from"} & set(new)
    net = make_event("network", "connect", "n1", {"container": "c1", "name": "bridge", "type": "bridge"})
    assert "status" not in tre.event_out(net, Version(1, 41)) and net["Actor"]["Attributes"]["container"] == "c1"
    img = make_event("image", "create", "sha256:x")
    assert tre.event_out(img, Version(1, 45)) is None and tre.event_out(img, Version(1, 46)) is not None


def test_events_content_type_negotiation():
    v41, v52 = Version(1, 41), Version(1, 52)
    assert tre.content_type(None, v41) == "application/json" and tre.content_type(None, v52) == "application/jsonl"
    assert tre.content_type("application/json-seq", v41) == "application/json-seq"
    assert tre.content_type("application/x-ndjson;q=0.5, application/json-seq;q=0.9", v52) == "application/json-seq"
    assert tre.content_type("application/jsonl;q=0, text/html", v52) == "application/jsonl"
    assert tre.record_prefix("application/json-seq") == "\x1e" and tre.record_prefix("application/jsonl") == ""


def test_filters():
    ev = make_event("container", "die", "abcdef", {"image": "busybox:latest", "name": "web", "a": "1", "b": "2"})
    assert matches(ev, {"type": ["container"], "event": ["die", "start"]})
    assert matches(ev, {"container": ["web"]}) and matches(ev, {"container": ["abc"]})
    assert not matches(ev, {"container": ["other"]})
    assert matches(ev, {"image": ["busybox"]}) and matches(ev, {"image": ["busybox:latest"]})
    assert matches(ev, {"label": ["a=1", "b=2"]}) and not matches(ev, {"label": ["a=1", "b=3"]})
    assert not matches(ev, {"type": ["image"]})


async def test_bounded_stream_replays_and_ends():
    bus = Events()
    t0 = time.time_ns()
    bus.publish("container", "create", "c1")
    bus.publish("container", "start", "c1")
    got = [e["Action"] async for e in bus.stream(since_ns=t0, until_ns=time.time_ns())]
    assert got == ["create", "start"]


async def test_replay_keeps_the_last_256_events_as_dockerd():
    bus = Events()
    t0 = time.time_ns()
    for i in range(300):
        bus.publish("container", "create", f"c{i}")
    got = [e["Actor"]["ID"] async for e in bus.stream(since_ns=t0, until_ns=time.time_ns())]
    assert got == [f"c{i}" for i in range(44, 300)]


async def test_live_stream_until_future_deadline():
    bus = Events()

    async def later():
        await asyncio.sleep(0.05)
        bus.publish("image", "tag", "sha256:x")

    task = asyncio.create_task(later())
    got = [e["Action"] async for e in bus.stream(until_ns=time.time_ns() + 300_000_000)]
    await task
    assert got == ["tag"]
    assert bus.listeners == 0
