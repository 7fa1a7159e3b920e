"""The fault-trial harness counts right: figures from posts + store, its load client
survives a server that goes away, and its proxy really cuts and restores connections."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter

import pytest
from aiohttp import web

from bench.chaos.__main__ import verdict
from bench.chaos.faults import Proxy
from bench.chaos.load import FormLoad, Post, Tally, in_window, summarize


def _posts(*statuses: int) -> list[Post]:
    return [Post(i, float(i), status=s) for i, s in enumerate(statuses)]


def test_lost_is_accepted_without_a_lead_and_duplicates_count_once_per_submission() -> None:
    posts = _posts(202, 202, 202, 503, 0, 202)
    tally = Tally(leads=Counter({0: 1, 1: 2, 3: 1, 4: 1}), inquiries=Counter({0: 1, 1: 1, 5: 0}))
    got = summarize(posts, tally)
    assert got["accepted"] == 4
    assert got["refused"] == 1
    assert got["unanswered"] == 1
    assert got["leads"] == 2  # posts 0 and 1; 2 and 5 have none
    assert got["lost"] == 2
    assert got["duplicated"] == 1  # post 1: two leads
    assert got["refused_but_stored"] == 1  # the 503 became a lead anyway
    assert got["unanswered_but_stored"] == 1


def test_window_counts_posts_sent_during_the_fault() -> None:
    posts = _posts(202, 503, 202, 202)
    assert in_window(posts, 1.0, 3.0) == {"sent": 2, "accepted": 1}


@pytest.mark.parametrize(
    ("row", "fails"),
    [
        ({"trial": "up-kill", "lost": 0, "duplicated": 0}, False),
        ({"trial": "up-kill", "lost": 1, "duplicated": 0}, True),
        ({"trial": "up-kill", "lost": 0, "duplicated": 2}, True),
        ({"trial": "broker-empty", "lost": 0, "duplicated": 0, "server_errors_5xx": 3}, False),
        ({"trial": "poison", "lost": 0, "duplicated": 0, "server_errors_5xx": 1}, True),
        ({"trial": "poison", "error": "RuntimeError: no start"}, True),
    ],
)
def test_exit_policy(row: dict[str, object], fails: bool) -> None:
    assert bool(verdict(row)) is fails


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_load_keeps_ids_and_records_no_answer_when_the_server_is_gone() -> None:
    async def accept(_request: web.Request) -> web.Response:
        return web.json_response({"status": "accepted", "inquiry_id": "abc"}, status=202)

    app = web.Application()
    app.router.add_post("/forms/chaos", accept)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    url = f"http://127.0.0.1:{port}/forms/chaos"
    try:
        load = FormLoad(url, "t", 500, count=10)
        async with load:
            await load.finished()
        assert [p.status for p in load.posts] == [202] * 10
        assert {p.inquiry_id for p in load.posts} == {"abc"}
    finally:
        await runner.cleanup()
    gone = FormLoad(url, "t", 500, count=5, timeout_s=5)
    async with gone:
        await gone.finished()
    assert [p.status for p in gone.posts] == [0] * 5


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1024):
        writer.write(data)
        await writer.drain()
    writer.close()


async def _round_trip(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"ping")
        await writer.drain()
        return await asyncio.wait_for(reader.read(4), 5)
    finally:
        writer.close()


async def test_proxy_forwards_cuts_and_restores() -> None:
    target = await asyncio.start_server(_echo, "127.0.0.1", 0)
    target_port = target.sockets[0].getsockname()[1]
    proxy = Proxy(_free_port(), target_port)
    await proxy.restore()
    try:
        assert await _round_trip(proxy.listen_port) == b"ping"
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.listen_port)
        writer.write(b"ping")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(4), 5) == b"ping"
        await proxy.cut()
        # The open connection is dropped (EOF or reset) and a new one is refused.
        try:
            rest = await asyncio.wait_for(reader.read(4), 5)
        except ConnectionResetError:
            rest = b""
        assert rest == b""
        writer.close()
        with pytest.raises(ConnectionRefusedError):
            await _round_trip(proxy.listen_port)
        await proxy.restore()
        assert await _round_trip(proxy.listen_port) == b"ping"
    finally:
        await proxy.close()
        target.close()
        await target.wait_closed()
