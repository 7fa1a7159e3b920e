"""The token an embedded copy of a form fetches: signed for that form, only for the
origins the form allows, never cached."""

from __future__ import annotations

import pytest

from ingest.contract import Topics
from ingest.contract.render_token import read_render_token

from ..conftest import BrokerProcess
from .helpers import form_client

pytestmark = pytest.mark.integration

SECRET = b"render-secret"


async def test_an_allowed_origin_gets_a_signed_token_and_others_do_not(
    broker: BrokerProcess, topics: Topics
) -> None:
    async with form_client(broker.bootstrap_servers, topics, render_secret=SECRET) as client:
        shop = {"Origin": "https://shop.example.com"}
        ok = await client.get("/forms/contact/token", headers=shop)
        assert ok.status == 200
        assert ok.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
        assert ok.headers["Cache-Control"] == "no-store"
        body = await ok.json()
        assert read_render_token(SECRET, body["render_token"], "contact") is not None
        assert read_render_token(SECRET, body["render_token"], "other") is None
        assert len(body["submission_id"]) == 32
        evil = await client.get("/forms/contact/token", headers={"Origin": "https://evil.test"})
        assert evil.status == 403
        assert (await client.get("/forms/nope/token", headers=shop)).status == 404
