"""The web-form HTTP edge against the real broker: status codes a web developer sees."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from ingest.contract import Inquiry, Topics
from leadflow.broker import create_topics

from ..conftest import BrokerProcess, start_tansu, stop_tansu
from .channel_helpers import eventually, read_topic
from .helpers import form_client
from .journal_helpers import confirm, journal_form_client, open_journal, relay_config, relaying

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


async def test_broker_down_still_gets_202_and_the_journal_empties_when_it_is_back(
    topics: Topics, tmp_path: Path
) -> None:
    own = start_tansu()
    try:
        await create_topics(own.bootstrap_servers, topics, partitions=3)
        config = relay_config(own.bootstrap_servers, topics, republish_after_s=1.0)
        async with (
            open_journal(tmp_path) as journal,
            relaying(journal, config),
            journal_form_client(journal) as client,
        ):
            assert (await client.post("/forms/contact", json=FORM)).status == 202
            await eventually(lambda: journal.stats().published == 1)
            stop_tansu(own)
            # The broker is gone: the journal answers, at once and with a 202.
            for n in range(5):
                resp = await client.post("/forms/contact", json={**FORM, "message": f"m{n}"})
                assert resp.status == 202
            assert journal.stats().entries == 6
            own = start_tansu(own.port)  # back, and empty
            records = await read_topic(own.bootstrap_servers, topics.inquiries, 6, within=30)
            keys = sorted({Inquiry.from_kafka(v).idempotency_key for v, _ in records})
            assert len(keys) == 6, "every accepted post reached the new broker"
            await confirm(own.bootstrap_servers, topics, keys)  # what ingest will send
            await eventually(lambda: journal.stats().entries == 0, within=30)
    finally:
        stop_tansu(own)


async def test_broker_down_at_start_still_gets_202(topics: Topics, tmp_path: Path) -> None:
    from leadflow.broker import free_port

    config = relay_config(f"127.0.0.1:{free_port()}", topics)
    async with (
        open_journal(tmp_path) as journal,
        relaying(journal, config),
        journal_form_client(journal) as client,
    ):
        resp = await client.post("/forms/contact", json=FORM)
        assert resp.status == 202
        assert journal.stats().entries == 1


async def test_past_the_journal_bound_a_post_gets_503_at_once(tmp_path: Path) -> None:
    async with (
        open_journal(tmp_path, max_bytes=1) as journal,
        journal_form_client(journal) as client,
    ):
        resp = await client.post("/forms/contact", json=FORM)
        assert resp.status == 503
        assert resp.headers["Retry-After"] == "5"
        assert "try again" in (await resp.json())["detail"]
        stats = journal.stats()
    assert (stats.entries, stats.refused) == (0, 1), "a 503 means nothing was recorded"
