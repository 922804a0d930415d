"""Attaches made before start share one monitor connection: every one sees all the output
(docker-compose v1 `run` without the CLI attaches stdin, stdout and stderr apart)."""

from __future__ import annotations

import asyncio

from shim.engine.container_io import share_attach


class ScriptedHandle:
    def __init__(self, items):
        self.items = list(items)
        self.written: list[bytes] = []
        self.stdin_closed = False
        self.closed = False

    async def read(self):
        await asyncio.sleep(0)
        return self.items.pop(0) if self.items else None

    async def write(self, data: bytes) -> None:
        self.written.append(data)

    async def close_stdin(self) -> None:
        self.stdin_closed = True

    async def close(self) -> None:
        self.closed = True


async def drain(h):
    out = []
    while (item := await h.read()) is not None:
        out.append(item)
    return out


def test_one_or_none_is_not_wrapped():
    h = ScriptedHandle([])
    assert share_attach(h, 1) == [h]
    assert share_attach(None, 3) == [None, None, None]


async def test_every_view_sees_all_output_in_order():
    items = [(1, b"out\n"), (2, b"err\n")] + [(1, b"%d" % i) for i in range(200)]
    h = ScriptedHandle(items)
    views = share_attach(h, 3)
    results = await asyncio.gather(*(drain(v) for v in views))
    assert all(r == items for r in results)
    for v in views:
        await v.close()
    assert h.closed


async def test_stdin_goes_to_the_one_connection():
    h = ScriptedHandle([])
    a, b = share_attach(h, 2)
    await a.write(b"x")
    await b.close_stdin()
    assert h.written == [b"x"] and h.stdin_closed
    await a.close()
    await b.close()


async def test_a_closed_view_does_not_block_the_others_and_the_last_close_ends_it():
    items = [(1, b"%d" % i) for i in range(500)]  # well past one view's queue
    h = ScriptedHandle(items)
    quitter, reader = share_attach(h, 2)
    await quitter.close()
    assert not h.closed
    assert await quitter.read() is None
    assert await asyncio.wait_for(drain(reader), 5) == items
    await reader.close()
    assert h.closed
