"""The public edges against hostile input: every answer is a 2xx or a 4xx with a sentence.

A real web-form (and webhook) app on aiohttp's test server, publishing to the real
broker; what reached the topic is read back to see what was cleaned and cut.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from connectors.phone import GENERIC_SIGNATURE_HEADER, GENERIC_TIMESTAMP_HEADER, sign_generic
from connectors.publisher import Publisher
from connectors.webform import WebFormConnector
from ingest.contract import Topics, limits
from ingest.contract.problem import BODY_TIMEOUT, problem_middleware

from ..conftest import BrokerProcess
from ..factories import make_form
from .channel_helpers import eventually, read_inquiries
from .test_webhooks_http import PHONE_SECRET, webhook_client

pytestmark = pytest.mark.integration

Client = TestClient[web.Request, web.Application]
FORM = "/forms/contact"
EMAIL = "ivan@example.com"


@asynccontextmanager
async def edge(
    bootstrap: str, topics: Topics, *, body_timeout_s: float = 5.0
) -> AsyncIterator[Client]:
    async with Publisher(bootstrap, topics, timeout_s=5.0) as publisher:
        form = make_form()
        connector = WebFormConnector(
            publisher, {form.slug: form}.get, trusted_proxies=["127.0.0.0/8"]
        )
        app = web.Application(client_max_size=256 * 1024, middlewares=[problem_middleware])
        app[BODY_TIMEOUT] = body_timeout_s
        app.add_routes(connector.routes())
        async with TestClient(TestServer(app)) as client:
            yield client


async def _problem(resp: Any, status: int) -> str:
    assert resp.status == status, await resp.text()
    body = await resp.json()
    assert body["status"] == status
    detail: str = body["detail"]
    assert detail.endswith(".")
    return detail


async def test_nul_in_a_urlencoded_name_is_accepted_and_stripped(
    broker: BrokerProcess, topics: Topics
) -> None:
    async with edge(broker.bootstrap_servers, topics) as client:
        resp = await client.post(
            FORM,
            data=f"name=a%00b&email={EMAIL}".encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert resp.status == 202, await resp.text()
    [inquiry] = await read_inquiries(broker.bootstrap_servers, topics.inquiries, 1)
    assert inquiry.sender.name == "ab"


async def test_a_501_character_name_is_a_422_naming_the_field(
    broker: BrokerProcess, topics: Topics
) -> None:
    async with edge(broker.bootstrap_servers, topics) as client:
        resp = await client.post(FORM, json={"name": "n" * 501, "email": EMAIL})
        detail = await _problem(resp, 422)
    assert "Name is longer than 500 characters" in detail


async def test_overlong_metadata_is_accepted_and_cut(broker: BrokerProcess, topics: Topics) -> None:
    long = "x" * 5_000
    async with edge(broker.bootstrap_servers, topics) as client:
        resp = await client.post(
            f"{FORM}?ignored=1",
            json={"email": EMAIL, "utm_source": long, "utm_campaign": long},
            headers={"Referer": "https://ads.example/" + long, "User-Agent": "Bot/" + long},
        )
        assert resp.status == 202, await resp.text()
    [inquiry] = await read_inquiries(broker.bootstrap_servers, topics.inquiries, 1)
    assert len(inquiry.source.referrer or "") == limits.URL_MAX
    assert len(inquiry.client.user_agent or "") == limits.USER_AGENT_MAX
    assert inquiry.source.utm_source == "x" * limits.UTM_MAX
    assert inquiry.source.utm_campaign == "x" * limits.UTM_MAX


async def test_an_overlong_idempotency_key_is_a_422(broker: BrokerProcess, topics: Topics) -> None:
    async with edge(broker.bootstrap_servers, topics) as client:
        resp = await client.post(
            FORM, json={"email": EMAIL}, headers={"Idempotency-Key": "k" * 5_000}
        )
        detail = await _problem(resp, 422)
    assert "submission id is longer than" in detail


MULTIPART_BAD = (
    b"--b0und\r\n"
    b'Content-Disposition: form-data; name="email"\r\n\r\n'
    b"ivan@example.com\r\n"
    b"--b0und\r\n"
    b'Content-Disposition: form-data; name="name"\r\n\r\n'
    b"\xff\xfe\xfd\r\n"
    b"--b0und--\r\n"
)

BAD_BODIES = [
    pytest.param(
        b"[" * 100_000 + b"]" * 100_000,
        "application/json",
        "nested too deeply",
        id="json-100k-deep",
    ),
    pytest.param(
        b'{"name": "\xff\xfe", "email": "a@b.ru"}', "application/json", "UTF-8", id="json-utf8"
    ),
    pytest.param(
        b'{"name": "\\udc00", "email": "a@b.ru"}', "application/json", "JSON", id="json-surrogate"
    ),
    pytest.param(
        b"name=\xff\xfe&email=a%40b.ru",
        "application/x-www-form-urlencoded",
        "UTF-8",
        id="urlencoded-utf8",
    ),
    pytest.param(
        b"name=%C3%28&email=a%40b.ru",
        "application/x-www-form-urlencoded",
        "UTF-8",
        id="urlencoded-pct-utf8",
    ),
    pytest.param(
        MULTIPART_BAD, "multipart/form-data; boundary=b0und", "UTF-8", id="multipart-utf8"
    ),
]


@pytest.mark.parametrize(("body", "ctype", "words"), BAD_BODIES)
async def test_bad_bodies_are_a_400_with_a_sentence(
    broker: BrokerProcess, topics: Topics, body: bytes, ctype: str, words: str
) -> None:
    async with edge(broker.bootstrap_servers, topics) as client:
        resp = await client.post(FORM, data=body, headers={"Content-Type": ctype})
        detail = await _problem(resp, 400)
    assert words in detail


XFF_CASES = [
    pytest.param("1.2.3.4, 127.0.0.9", "1.2.3.4", id="client-then-trusted-proxy"),
    pytest.param("6.6.6.6, 1.2.3.4", "1.2.3.4", id="spoofed-entry-on-the-left"),
    pytest.param("garbage, <script>, 1.2.3.4", "1.2.3.4", id="garbage-entries"),
    pytest.param("1.2.3.4, " + "9" * 200, "127.0.0.1", id="200-char-entry"),
    # 8,000 bytes: aiohttp refuses a header line over 8,190 bytes with its own 400.
    pytest.param(",".join(["5.5.5.5"] * 1_000), "5.5.5.5", id="1000-entries"),
]


@pytest.mark.parametrize(("forwarded", "client_ip"), XFF_CASES)
async def test_x_forwarded_for_gives_a_valid_client_ip(
    broker: BrokerProcess, topics: Topics, forwarded: str, client_ip: str
) -> None:
    async with edge(broker.bootstrap_servers, topics) as client:
        resp = await client.post(
            FORM, json={"email": EMAIL}, headers={"X-Forwarded-For": forwarded}
        )
        assert resp.status == 202, await resp.text()
    [inquiry] = await read_inquiries(broker.bootstrap_servers, topics.inquiries, 1)
    assert inquiry.client.ip == client_ip


async def test_the_webform_never_answers_5xx_to_hostile_input(
    broker: BrokerProcess, topics: Topics
) -> None:
    long = "z" * 5_000
    attempts: list[dict[str, Any]] = [
        {
            "data": b"name=a%00b&email=" + EMAIL.encode(),
            "ctype": "application/x-www-form-urlencoded",
        },
        {"json": {"name": "n" * 501, "email": EMAIL}},
        {"json": {"company": "c" * 301, "email": EMAIL}},
        {"json": {"email": "a@" + "d" * 400 + ".ru"}},
        {"json": {"email": EMAIL, "nested": [[[{"a": None}]]]}},
        {"json": {"email": EMAIL, "\u0000": "\ud800"}},
        {"json": {"email": EMAIL, "f" * 5_000: "v"}},
        {"json": {"email": EMAIL, **{f"x{i}": "v" for i in range(500)}}},
        {"json": {"email": EMAIL, "_submission_id": long}},
        {"json": {"email": EMAIL, "_rt": long}},
        {"json": {"email": EMAIL}, "headers": {"Idempotency-Key": long}},
        {"json": {"email": EMAIL}, "headers": {"Referer": long, "User-Agent": long}},
        {"json": {"email": EMAIL}, "headers": {"X-Forwarded-For": ",".join(["x" * 64] * 100)}},
        {"json": {"email": EMAIL}, "headers": {"X-Forwarded-For": "1.1.1.1," * 2_000}},
        {"data": b"{" * 50_000, "ctype": "application/json"},
        {"data": b"\xff" * 1000, "ctype": "application/x-www-form-urlencoded"},
        {"data": MULTIPART_BAD, "ctype": "multipart/form-data; boundary=b0und"},
        {"data": b"--nope\r\n", "ctype": "multipart/form-data; boundary=b0und"},
        {"data": b"x", "ctype": "text/plain"},
    ]
    async with edge(broker.bootstrap_servers, topics) as client:
        for attempt in attempts:
            headers = dict(attempt.get("headers", {}))
            if "ctype" in attempt:
                headers["Content-Type"] = attempt["ctype"]
                resp = await client.post(FORM, data=attempt["data"], headers=headers)
            else:
                body = json.dumps(attempt["json"]).encode()
                headers["Content-Type"] = "application/json"
                resp = await client.post(FORM, data=body, headers=headers)
            assert resp.status < 500, (attempt, resp.status, await resp.text())


@asynccontextmanager
async def served(
    bootstrap: str, topics: Topics, *, body_timeout_s: float = 5.0, header_timeout_s: float = 5.0
) -> AsyncIterator[tuple[int, web.Server]]:
    """The web form on a real `AppRunner` set up as the runtime does (aiohttp's test
    server cancels handlers when a client goes away; production does not)."""
    async with Publisher(bootstrap, topics, timeout_s=5.0) as publisher:
        form = make_form()
        app = web.Application(middlewares=[problem_middleware])
        app[BODY_TIMEOUT] = body_timeout_s
        app.add_routes(WebFormConnector(publisher, {form.slug: form}.get).routes())
        runner = web.AppRunner(app, access_log=None, keepalive_timeout=header_timeout_s)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            assert runner.server is not None
            yield runner.addresses[0][1], runner.server
        finally:
            await runner.cleanup()


async def _send(port: int, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    return reader, writer


def _post_head(length: int) -> bytes:
    return (
        f"POST {FORM} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


async def test_a_slow_body_is_cut_off_with_408(broker: BrokerProcess, topics: Topics) -> None:
    async with served(broker.bootstrap_servers, topics, body_timeout_s=0.3) as (port, _):
        reader, writer = await _send(port, _post_head(1000) + b'{"email": ')
        try:
            async with asyncio.timeout(10):
                status_line = await reader.readline()
        finally:
            writer.close()
    assert status_line.startswith(b"HTTP/1.1 408"), status_line


async def test_a_client_gone_mid_body_is_logged_at_info_without_a_traceback(
    broker: BrokerProcess, topics: Topics, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with served(broker.bootstrap_servers, topics) as (port, server):
        _reader, writer = await _send(port, _post_head(1000) + b'{"email": ')
        # The handler has the request and awaits its body.
        await eventually(lambda: server.requests_count >= 1)
        writer.close()
        await writer.wait_closed()
        await eventually(lambda: any("went away" in r.getMessage() for r in caplog.records))
    gone = [r for r in caplog.records if "went away mid-body" in r.getMessage()]
    assert gone[0].levelno == logging.INFO
    assert gone[0].exc_info is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_slow_headers_are_cut_off_by_the_header_timeout(
    broker: BrokerProcess, topics: Topics
) -> None:
    async with served(broker.bootstrap_servers, topics, header_timeout_s=0.3) as (port, _):
        reader, writer = await _send(port, b"POST /forms/contact HTTP/1.1\r\nHost: x\r\n")
        try:
            async with asyncio.timeout(10):
                rest = await reader.read()  # never finished: the server must hang up
        finally:
            writer.close()
    assert rest == b""


async def test_webhooks_answer_400_to_invalid_utf8_and_deep_json(
    broker: BrokerProcess, topics: Topics
) -> None:
    async with webhook_client(broker.bootstrap_servers, topics) as client:
        twilio = await client.post(
            "/webhooks/twilio/main",
            data=b"CallSid=\xff\xfe",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert "UTF-8" in await _problem(twilio, 400)
        deep = b"[" * 100_000 + b"]" * 100_000
        stamp = int(time.time())
        phone = await client.post(
            "/webhooks/phone/pbx",
            data=deep,
            headers={
                "Content-Type": "application/json",
                GENERIC_TIMESTAMP_HEADER: str(stamp),
                GENERIC_SIGNATURE_HEADER: sign_generic(deep, stamp, PHONE_SECRET),
            },
        )
        assert "nested too deeply" in await _problem(phone, 400)


@asynccontextmanager
async def plain_json_app(body_timeout_s: float) -> AsyncIterator[tuple[int, web.Server, list[str]]]:
    """A handler as the console writes them (`await request.json()`), behind the shared
    middleware, on a real AppRunner."""
    seen: list[str] = []

    async def echo(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append(str(body))
        return web.json_response(body)

    app = web.Application(middlewares=[problem_middleware])
    app[BODY_TIMEOUT] = body_timeout_s
    app.router.add_post("/api/v1/echo", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        assert runner.server is not None
        yield runner.addresses[0][1], runner.server, seen
    finally:
        await runner.cleanup()


def _echo_head(length: int) -> bytes:
    return (
        "POST /api/v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


async def test_every_route_behind_the_middleware_reads_its_body_under_the_deadline() -> None:
    async with plain_json_app(body_timeout_s=0.3) as (port, _, seen):
        reader, writer = await _send(port, _echo_head(100) + b'{"a": ')
        try:
            async with asyncio.timeout(10):
                status_line = await reader.readline()
        finally:
            writer.close()
        ok_reader, ok_writer = await _send(port, _echo_head(8) + b'{"a": 1}')
        try:
            async with asyncio.timeout(10):
                ok_line = await ok_reader.readline()
        finally:
            ok_writer.close()
    assert status_line.startswith(b"HTTP/1.1 408"), status_line
    assert ok_line.startswith(b"HTTP/1.1 200"), ok_line
    assert seen == ["{'a': 1}"], "the handler got the body the middleware read"


async def test_a_client_gone_from_any_route_is_an_info_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with plain_json_app(body_timeout_s=30) as (port, server, _):
        _reader, writer = await _send(port, _echo_head(100) + b'{"a": ')
        await eventually(lambda: server.requests_count >= 1)
        writer.close()
        await writer.wait_closed()
        await eventually(lambda: any("went away" in r.getMessage() for r in caplog.records))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if r.exc_info]
