"""The web-form HTTP edge against the real broker: status codes a web developer sees."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from ingest.contract import Topics

from ..conftest import BrokerProcess, start_tansu, stop_tansu
from .helpers import form_client

pytestmark = pytest.mark.integration

FORM = {"name": "Ivan", "email": "ivan@example.com", "message": "hello"}


async def test_json_and_multipart_are_accepted(broker: BrokerProcess, topics: Topics) -> None:
    async with form_client(broker.bootstrap_servers, topics) as client:
        as_json = await client.post("/forms/contact", json=FORM)
        assert as_json.status == 202
        multipart = aiohttp.FormData()
        for k, v in FORM.items():
            multipart.add_field(k, v)
        multipart.add_field("file", b"abc", filename="cv.pdf", content_type="application/pdf")
        as_multipart = await client.post("/forms/contact", data=multipart)
        assert as_multipart.status == 202
        assert "inquiry_id" in await as_multipart.json()


@pytest.mark.parametrize(
    ("kwargs", "status", "words"),
    [
        pytest.param(
            {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
            400,
            "not valid JSON",
            id="malformed-json",
        ),
        pytest.param({"json": ["a", "list"]}, 400, "must be an object", id="json-array"),
        pytest.param(
            {"data": b"hello", "headers": {"Content-Type": "text/plain"}},
            415,
            "application/x-www-form-urlencoded",
            id="wrong-type",
        ),
        pytest.param(
            {"json": {"name": "Ivan", "email": "nope"}}, 422, "not a valid email", id="bad-email"
        ),
        pytest.param({"json": {"name": "Ivan"}}, 422, "email address or a phone", id="no-contact"),
    ],
)
async def test_bad_bodies_get_problem_json(
    broker: BrokerProcess, topics: Topics, kwargs: dict[str, object], status: int, words: str
) -> None:
    async with form_client(broker.bootstrap_servers, topics) as client:
        resp = await client.post("/forms/contact", **kwargs)  # type: ignore[arg-type]
        assert resp.status == status
        assert resp.content_type == "application/problem+json"
        body = await resp.json()
        assert body["status"] == status
        assert words in body["detail"]


async def test_unknown_form_is_404(broker: BrokerProcess, topics: Topics) -> None:
    async with form_client(broker.bootstrap_servers, topics) as client:
        resp = await client.post("/forms/nope", data=FORM)
        assert resp.status == 404
        assert "no form called 'nope'" in (await resp.json())["detail"]


async def test_body_over_the_limit_is_413(broker: BrokerProcess, topics: Topics) -> None:
    async with form_client(broker.bootstrap_servers, topics, max_body=4096) as client:
        resp = await client.post("/forms/contact", data={**FORM, "message": "x" * 10_000})
        assert resp.status == 413
        assert resp.content_type == "application/problem+json"


async def test_cors_allows_configured_origins_only(broker: BrokerProcess, topics: Topics) -> None:
    async with form_client(broker.bootstrap_servers, topics) as client:
        pre = await client.options("/forms/contact", headers={"Origin": "https://shop.example.com"})
        assert pre.status == 204
        assert pre.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
        ok = await client.post(
            "/forms/contact", json=FORM, headers={"Origin": "https://shop.example.com"}
        )
        assert ok.status == 202
        assert ok.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
        bad = await client.post(
            "/forms/contact", json=FORM, headers={"Origin": "https://evil.example"}
        )
        assert bad.status == 403
        assert "evil.example" in (await bad.json())["detail"]


async def test_plain_html_form_is_redirected(broker: BrokerProcess, topics: Topics) -> None:
    async with form_client(broker.bootstrap_servers, topics) as client:
        resp = await client.post(
            "/forms/contact", data=FORM, headers={"Accept": "text/html"}, allow_redirects=False
        )
        assert resp.status == 303
        assert resp.headers["Location"] == "/forms/contact/thanks"
        thanks = await client.get("/forms/contact/thanks")
        assert "Thank you" in await thanks.text()


async def test_embeddable_page_posts_back_to_itself(broker: BrokerProcess, topics: Topics) -> None:
    async with form_client(broker.bootstrap_servers, topics) as client:
        page = await (await client.get("/forms/contact")).text()
        assert 'action="/forms/contact"' in page
        assert 'name="_submission_id"' in page
        assert 'name="website"' in page, "the honeypot is on the page, hidden"
        assert 'name="email"' in page


async def test_broker_down_gives_503_not_a_hang(topics: Topics) -> None:
    own = start_tansu()
    from leadflow.broker import create_topics

    await create_topics(own.bootstrap_servers, topics, partitions=1)
    async with form_client(own.bootstrap_servers, topics, timeout_s=2.0) as client:
        assert (await client.post("/forms/contact", json=FORM)).status == 202
        stop_tansu(own)
        # The produce deadline (2 s) answers; wait_for only guards against a hang.
        resp = await asyncio.wait_for(client.post("/forms/contact", json=FORM), 15)
        assert resp.status == 503
        assert resp.headers["Retry-After"] == "5"
        assert "try again" in (await resp.json())["detail"]


async def test_broker_down_at_start_gives_503(topics: Topics) -> None:
    from leadflow.broker import free_port

    async with form_client(f"127.0.0.1:{free_port()}", topics, timeout_s=1.0) as client:
        resp = await client.post("/forms/contact", json=FORM)
        assert resp.status == 503
