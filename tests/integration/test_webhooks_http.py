"""WhatsApp, Twilio and the generic phone webhook over HTTP, publishing to the real broker."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry, Counter
from twilio.request_validator import RequestValidator

from connectors.config import PhoneWebhookConfig, TwilioConfig, WhatsAppConfig
from connectors.phone import sign_generic
from connectors.phone_webhook import GenericPhoneWebhook, TwilioWebhook
from connectors.publisher import InquirySink, Publisher
from connectors.whatsapp_webhook import WhatsAppWebhook
from ingest.contract import Topics
from ingest.contract.problem import problem_middleware

from ..conftest import BrokerProcess
from .channel_helpers import fixture, fixture_bytes, read_inquiries
from .journal_helpers import open_journal

pytestmark = pytest.mark.integration

APP_SECRET = "meta-app-secret"
VERIFY_TOKEN = "verify-me"
AUTH_TOKEN = "twilio-auth-token-0123456789abcdef"
PHONE_SECRET = "pbx-shared-secret"

WHATSAPP = WhatsAppConfig(name="wa", verify_token=VERIFY_TOKEN, app_secret=APP_SECRET, team="Sales")
TWILIO = TwilioConfig(name="main", auth_token=AUTH_TOKEN, team="Sales")
TWILIO_PUBLIC = TwilioConfig(
    name="public", auth_token=AUTH_TOKEN, public_url="https://leads.example.com"
)
PBX = PhoneWebhookConfig(name="pbx", provider="asterisk", secret=PHONE_SECRET, team="Sales")

Client = TestClient[web.Request, web.Application]


@asynccontextmanager
async def webhook_client(
    bootstrap: str,
    topics: Topics,
    *,
    registry: CollectorRegistry | None = None,
    timeout_s: float = 5.0,
) -> AsyncIterator[Client]:
    counter = Counter(
        "leadflow_webhook_requests_total",
        "test",
        ["channel", "outcome"],
        registry=registry or CollectorRegistry(),
    )

    def count(channel: str):  # type: ignore[no-untyped-def]
        return lambda outcome: counter.labels(channel, outcome).inc()

    async with Publisher(bootstrap, topics, timeout_s=timeout_s) as publisher:
        app = web.Application(middlewares=[problem_middleware])
        app.add_routes(
            WhatsAppWebhook(
                publisher, {"wa": WHATSAPP}.get, count_request=count("whatsapp")
            ).routes()
        )
        twilio = {"main": TWILIO, "public": TWILIO_PUBLIC}
        app.add_routes(TwilioWebhook(publisher, twilio.get, count_request=count("twilio")).routes())
        app.add_routes(
            GenericPhoneWebhook(publisher, {"pbx": PBX}.get, count_request=count("phone")).routes()
        )
        async with TestClient(TestServer(app)) as client:
            yield client


def meta_signature(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --- WhatsApp -----------------------------------------------------------------------


async def test_whatsapp_verification_handshake(broker: BrokerProcess, topics: Topics) -> None:
    query = {
        "hub.mode": "subscribe",
        "hub.challenge": "1158201444",
        "hub.verify_token": VERIFY_TOKEN,
    }
    async with webhook_client(broker.bootstrap_servers, topics) as client:
        ok = await client.get("/webhooks/whatsapp/wa", params=query)
        wrong = await client.get(
            "/webhooks/whatsapp/wa", params={**query, "hub.verify_token": "guess"}
        )
        not_a_handshake = await client.get("/webhooks/whatsapp/wa")
        unknown = await client.get("/webhooks/whatsapp/other", params=query)
        assert (ok.status, await ok.text()) == (200, "1158201444")
        assert wrong.status == 403
        assert not_a_handshake.status == 400
        assert unknown.status == 404


@pytest.mark.parametrize(
    "name", ["text", "contacts", "location", "interactive_button", "interactive_list", "button"]
)
async def test_whatsapp_signed_message_is_published(
    broker: BrokerProcess, topics: Topics, name: str
) -> None:
    body = fixture_bytes("whatsapp", name)
    async with webhook_client(broker.bootstrap_servers, topics) as client:
        resp = await client.post(
            "/webhooks/whatsapp/wa",
            data=body,
            headers={
                "X-Hub-Signature-256": meta_signature(body),
                "Content-Type": "application/json",
            },
        )
        assert resp.status == 200
        assert (await resp.json())["status"] == "accepted"
    [inquiry] = await read_inquiries(broker.bootstrap_servers, topics.inquiries, 1)
    assert inquiry.channel == "whatsapp"
    assert inquiry.idempotency_key.startswith("whatsapp:wamid.")
    assert inquiry.routing.connector == "wa"


async def test_whatsapp_status_events_are_acknowledged_and_ignored(
    broker: BrokerProcess, topics: Topics
) -> None:
    body = fixture_bytes("whatsapp", "status_only")
    async with webhook_client(broker.bootstrap_servers, topics) as client:
        resp = await client.post(
            "/webhooks/whatsapp/wa",
            data=body,
            headers={"X-Hub-Signature-256": meta_signature(body)},
        )
        assert resp.status == 200
        assert (await resp.json())["status"] == "ignored"


async def test_whatsapp_unsigned_or_badly_signed_is_refused(
    broker: BrokerProcess, topics: Topics
) -> None:
    body = fixture_bytes("whatsapp", "text")
    reserialized = json.dumps(json.loads(body)).encode()
    registry = CollectorRegistry()
    async with webhook_client(broker.bootstrap_servers, topics, registry=registry) as client:
        unsigned = await client.post("/webhooks/whatsapp/wa", data=body)
        other_secret = await client.post(
            "/webhooks/whatsapp/wa",
            data=body,
            headers={"X-Hub-Signature-256": meta_signature(body, "not-the-secret")},
        )
        # The signature is over the raw bytes: the same JSON re-serialized does not verify.
        tampered = await client.post(
            "/webhooks/whatsapp/wa",
            data=reserialized,
            headers={"X-Hub-Signature-256": meta_signature(body)},
        )
        for resp in (unsigned, other_secret, tampered):
            assert resp.status == 403
            assert resp.content_type == "application/problem+json"
        assert "X-Hub-Signature-256" in (await unsigned.json())["detail"]
    refused = registry.get_sample_value(
        "leadflow_webhook_requests_total", {"channel": "whatsapp", "outcome": "bad_signature"}
    )
    assert refused == 3


async def test_whatsapp_503_when_nothing_could_be_recorded(tmp_path: Path) -> None:
    body = fixture_bytes("whatsapp", "text")
    async with open_journal(tmp_path, max_bytes=1) as full:  # past its bound: refuses
        app = web.Application(middlewares=[problem_middleware])
        app.add_routes(WhatsAppWebhook(full, {"wa": WHATSAPP}.get).routes())
        async with TestClient(TestServer(app)) as client:
            resp = await client.post(
                "/webhooks/whatsapp/wa",
                data=body,
                headers={"X-Hub-Signature-256": meta_signature(body)},
            )
            assert resp.status == 503
            assert resp.headers["Retry-After"] == "5"
        assert full.stats().entries == 0


# --- Twilio -------------------------------------------------------------------------


async def test_twilio_signed_callback_is_published(broker: BrokerProcess, topics: Topics) -> None:
    params = fixture("phone", "twilio_no_answer")
    async with webhook_client(broker.bootstrap_servers, topics) as client:
        url = str(client.make_url("/webhooks/twilio/main"))
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
        resp = await client.post(
            "/webhooks/twilio/main",
            data=urlencode(params),
            headers={
                "X-Twilio-Signature": signature,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["status"] == "accepted"
    [inquiry] = await read_inquiries(broker.bootstrap_servers, topics.inquiries, 1)
    assert inquiry.channel == "phone"
    assert inquiry.sender.phone == "+79161234567"
    assert inquiry.fields["call_status"] == "missed"
    assert inquiry.idempotency_key == "phone:twilio:CA11111111111111111111111111111111:missed"


async def test_twilio_signature_covers_the_configured_public_url(
    broker: BrokerProcess, topics: Topics
) -> None:
    params = fixture("phone", "twilio_busy")
    validator = RequestValidator(AUTH_TOKEN)
    async with webhook_client(broker.bootstrap_servers, topics) as client:
        local = str(client.make_url("/webhooks/twilio/public"))
        public = "https://leads.example.com/webhooks/twilio/public"
        for url, expected in ((public, 200), (local, 403)):
            resp = await client.post(
                "/webhooks/twilio/public",
                data=params,
                headers={"X-Twilio-Signature": validator.compute_signature(url, params)},
            )
            assert resp.status == expected


async def test_twilio_tampered_parameter_is_refused(broker: BrokerProcess, topics: Topics) -> None:
    params = fixture("phone", "twilio_no_answer")
    async with webhook_client(broker.bootstrap_servers, topics) as client:
        url = str(client.make_url("/webhooks/twilio/main"))
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
        tampered = {**params, "From": "+79990000000"}
        resp = await client.post(
            "/webhooks/twilio/main", data=tampered, headers={"X-Twilio-Signature": signature}
        )
        unsigned = await client.post("/webhooks/twilio/main", data=params)
        unknown = await client.post(
            "/webhooks/twilio/nope", data=params, headers={"X-Twilio-Signature": signature}
        )
        assert resp.status == 403
        assert "X-Twilio-Signature" in (await resp.json())["detail"]
        assert unsigned.status == 403
        assert unknown.status == 404


async def test_twilio_interim_status_is_acknowledged_and_ignored(
    broker: BrokerProcess, topics: Topics
) -> None:
    params = fixture("phone", "twilio_ringing")
    async with webhook_client(broker.bootstrap_servers, topics) as client:
        url = str(client.make_url("/webhooks/twilio/main"))
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
        resp = await client.post(
            "/webhooks/twilio/main", data=params, headers={"X-Twilio-Signature": signature}
        )
        assert resp.status == 200
        assert (await resp.json())["status"] == "ignored"


# --- Generic signed JSON ------------------------------------------------------------


def signed(body: bytes, *, at: float | None = None, secret: str = PHONE_SECRET) -> dict[str, str]:
    timestamp = int(at if at is not None else time.time())
    return {
        "X-LeadFlow-Timestamp": str(timestamp),
        "X-LeadFlow-Signature": sign_generic(body, timestamp, secret),
        "Content-Type": "application/json",
    }


async def test_generic_call_event_is_published_once_and_a_replay_refused(
    broker: BrokerProcess, topics: Topics
) -> None:
    body = fixture_bytes("phone", "generic_missed")
    headers = signed(body)
    async with webhook_client(broker.bootstrap_servers, topics) as client:
        first = await client.post("/webhooks/phone/pbx", data=body, headers=headers)
        replay = await client.post("/webhooks/phone/pbx", data=body, headers=headers)
        assert first.status == 200
        assert replay.status == 403
        assert "replay" in (await replay.json())["detail"]
    [inquiry] = await read_inquiries(broker.bootstrap_servers, topics.inquiries, 1)
    assert inquiry.idempotency_key == "phone:asterisk:pbx-2024-06-20-000731:missed"
    assert inquiry.sender.phone == "+79161234567"


@pytest.mark.parametrize(
    ("skew", "word"),
    [
        pytest.param(-301, "too old", id="stale"),
        pytest.param(+301, "future", id="future"),
    ],
)
async def test_generic_refuses_stale_and_future_timestamps(
    broker: BrokerProcess, topics: Topics, skew: int, word: str
) -> None:
    body = fixture_bytes("phone", "generic_missed")
    async with webhook_client(broker.bootstrap_servers, topics) as client:
        resp = await client.post(
            "/webhooks/phone/pbx", data=body, headers=signed(body, at=time.time() + skew)
        )
        assert resp.status == 403
        assert word in (await resp.json())["detail"]


async def test_generic_refuses_unsigned_and_badly_signed(
    broker: BrokerProcess, topics: Topics
) -> None:
    body = fixture_bytes("phone", "generic_missed")
    async with webhook_client(broker.bootstrap_servers, topics) as client:
        unsigned = await client.post("/webhooks/phone/pbx", data=body)
        bad = await client.post("/webhooks/phone/pbx", data=body, headers=signed(body, secret="x"))
        unknown = await client.post("/webhooks/phone/none", data=body, headers=signed(body))
        assert unsigned.status == 401
        assert bad.status == 403
        assert unknown.status == 404
        assert unknown.content_type == "application/problem+json"


async def test_generic_bad_bodies_name_the_problem(broker: BrokerProcess, topics: Topics) -> None:
    malformed = b'{"call_id": "x",'
    event = json.loads(fixture_bytes("phone", "generic_missed"))
    del event["status"]
    event["direction"] = "sideways"
    invalid = json.dumps(event).encode()
    async with webhook_client(broker.bootstrap_servers, topics) as client:
        resp400 = await client.post(
            "/webhooks/phone/pbx", data=malformed, headers=signed(malformed)
        )
        resp422 = await client.post("/webhooks/phone/pbx", data=invalid, headers=signed(invalid))
        assert resp400.status == 400
        assert "not valid JSON" in (await resp400.json())["detail"]
        assert resp422.status == 422
        problem = await resp422.json()
        assert {e["field"] for e in problem["errors"]} == {"status", "direction"}
        assert "status" in problem["detail"]


async def test_generic_retry_after_a_503_is_not_a_replay(
    broker: BrokerProcess, topics: Topics, tmp_path: Path
) -> None:
    body = fixture_bytes("phone", "generic_missed")
    headers = signed(body)
    # One app, one replay guard; recording goes from refused to working between the tries.
    async with (
        open_journal(tmp_path, max_bytes=1) as full,
        Publisher(broker.bootstrap_servers, topics) as live,
    ):
        current: dict[str, InquirySink] = {"publisher": full}

        class Switch:
            async def publish(self, inquiry):  # type: ignore[no-untyped-def]
                await current["publisher"].publish(inquiry)

        hook = GenericPhoneWebhook(Switch(), {"pbx": PBX}.get)
        app = web.Application(middlewares=[problem_middleware])
        app.add_routes(hook.routes())
        async with TestClient(TestServer(app)) as client:
            first = await client.post("/webhooks/phone/pbx", data=body, headers=headers)
            current["publisher"] = live
            retry = await client.post("/webhooks/phone/pbx", data=body, headers=headers)
            assert (first.status, retry.status) == (503, 200)
