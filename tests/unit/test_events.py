import asyncio
import time

from shim.engine.events import Events, make_event, matches


def test_container_events_carry_deprecated_fields():
    ev = make_event("container", "start", "c1", {"image": "busybox:latest", "name": "web"}, now_ns=1_500_000_000_123)
    assert ev["status"] == "start" and ev["id"] == "c1" and ev["from"] == "busybox:latest"
    assert ev["time"] == 1500 and ev["timeNano"] == 1_500_000_000_123 and ev["scope"] == "local"
    net = make_event("network", "connect", "n1", {"container": "c1", "name": "bridge", "type": "bridge"})
    assert "status" not in net and net["Actor"]["Attributes"]["container"] == "c1"


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
