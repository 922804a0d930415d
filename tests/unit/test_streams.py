"""Unit: follow streams that end when the client goes away (api/streams.py)."""

from __future__ import annotations

import asyncio

import pytest

from shim.api.streams import batches_until_client_gone, until_client_gone


class _Transport:
    def __init__(self) -> None:
        self.closing = False

    def is_closing(self) -> bool:
        return self.closing


class _Request:
    def __init__(self) -> None:
        self.transport = _Transport()


async def _numbers(n: int):
    for i in range(n):
        yield i


async def test_items_in_order_and_batches_never_empty():
    assert [x async for x in until_client_gone(_Request(), _numbers(5000))] == list(range(5000))
    batches = [b async for b in batches_until_client_gone(_Request(), _numbers(5000), ahead=100)]
    assert all(batches) and [x for b in batches for x in b] == list(range(5000))
    assert len(batches) < 5000  # what was already there comes as one batch


async def test_source_error_after_its_items():
    async def failing():
        yield 1
        yield 2
        raise ValueError("boom")

    got = []
    with pytest.raises(ValueError, match="boom"):
        async for x in until_client_gone(_Request(), failing()):
            got.append(x)  # noqa: PERF401 (a comprehension would lose what came before the error)
    assert got == [1, 2]


async def test_silent_source_ends_when_client_goes_and_is_closed():
    closed = asyncio.Event()

    async def silent():
        try:
            yield "first"
            await asyncio.sleep(3600)
            yield "never"
        finally:
            closed.set()

    req = _Request()
    got = []

    async def consume():
        async for x in until_client_gone(req, silent(), poll=0.02):
            got.append(x)
            req.transport.closing = True

    await asyncio.wait_for(consume(), 5)
    assert got == ["first"]
    await asyncio.wait_for(closed.wait(), 5)
