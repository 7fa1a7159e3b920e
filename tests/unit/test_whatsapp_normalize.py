"""Recorded WhatsApp Cloud API webhooks through the pure core: checks and payloads."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.outcome import Ignored, SignatureError
from connectors.whatsapp import (
    classify_whatsapp_payload,
    normalize_whatsapp_payload,
    verify_signature,
    verify_subscription,
)
from ingest.contract import Channel, Inquiry

FIXTURES = Path(__file__).parent.parent / "fixtures" / "whatsapp"
APP_SECRET = "3f0c9a1e5b7d2c4f6a8e0b1d3c5e7f9a"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def normalize(payload: dict[str, Any]) -> list[Inquiry]:
    return normalize_whatsapp_payload(payload, connector="wa-main", team="b2c")


def only(name: str) -> Inquiry:
    inquiries = normalize(load(name))
    assert len(inquiries) == 1
    return inquiries[0]


def test_text_message_identity_ids_and_time() -> None:
    result = only("text")

    assert result.channel is Channel.WHATSAPP
    assert result.text == "Добрый день! Есть ли диван в наличии?"
    assert result.sender.name == "Мария Соколова"
    assert result.sender.phone == "+79161234567"
    assert result.sender.messenger_ids == {"whatsapp": "79161234567"}
    assert result.idempotency_key == "whatsapp:wamid.HBgLNzkxNjEyMzQ1NjcVAgASGBQzQUVCQTXT001"
    assert result.received_at == datetime(2024, 6, 20, 8, 0, tzinfo=UTC)
    assert result.routing.connector == "wa-main"
    assert result.routing.team == "b2c"
    assert result.channel_ids["phone_number_id"] == "106540352242922"
    assert result.channel_ids["waba_id"] == "102290129340398"


def test_shared_contact_is_described_but_is_not_the_sender() -> None:
    result = only("contacts")

    assert result.sender.phone == "+79161234567"
    assert result.fields["contact_1_name"] == "Пётр Иванов"
    assert result.fields["contact_1_phone"] == "+79035551234"
    assert result.fields["contact_1_email"] == "petr.ivanov@example.com"
    assert result.fields["contact_1_company"] == "Торговый дом Ромашка"
    assert result.text is not None
    assert result.text.startswith("Shared contact: Пётр Иванов (+79035551234")


def test_location_is_readable_text_and_fields() -> None:
    result = only("location")

    assert result.text == "Location: Офис, Москва, Тверская ул., 1 (55.7558, 37.6173)"
    assert result.fields["latitude"] == "55.7558"
    assert result.fields["longitude"] == "37.6173"


@pytest.mark.parametrize(
    ("fixture", "text", "fields"),
    [
        pytest.param(
            "interactive_button",
            "Перезвоните мне",
            {"reply_type": "button_reply", "reply_id": "callback_me"},
            id="button-reply",
        ),
        pytest.param(
            "interactive_list",
            "Диван «Осло»",
            {"reply_type": "list_reply", "reply_id": "sofa_3"},
            id="list-reply",
        ),
        pytest.param(
            "button", "Где мой заказ?", {"button_payload": "order_status"}, id="quick-reply"
        ),
        pytest.param(
            "image",
            "Вот такой хочу\n[image]",
            {"media_id": "1003383421387256", "media_mime_type": "image/jpeg"},
            id="image-caption",
        ),
    ],
)
def test_replies_and_media(fixture: str, text: str, fields: dict[str, str]) -> None:
    result = only(fixture)

    assert result.text == text
    assert fields.items() <= result.fields.items()


@pytest.mark.parametrize(
    ("fixture", "reasons"),
    [
        pytest.param("status_only", [Ignored("status")], id="status-only"),
        pytest.param("reaction", [Ignored("reaction")], id="reaction"),
    ],
)
def test_non_messages_give_no_inquiry(fixture: str, reasons: list[Ignored]) -> None:
    payload = load(fixture)

    assert normalize(payload) == []
    assert classify_whatsapp_payload(payload, connector="wa-main", team=None) == reasons


def test_one_inquiry_per_message_in_a_batched_body() -> None:
    payload = load("text")
    second = copy.deepcopy(load("location")["entry"][0])
    payload["entry"].append(second)

    keys = [i.idempotency_key for i in normalize(payload)]

    assert keys == [
        "whatsapp:wamid.HBgLNzkxNjEyMzQ1NjcVAgASGBQzQUVCQTXT001",
        "whatsapp:wamid.HBgLNzkxNjEyMzQ1NjcVAgASGBQzQUVCQLOC001",
    ]


def test_unknown_message_type_is_counted_as_unsupported() -> None:
    payload = load("text")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message["type"] = "unsupported"
    message["errors"] = [{"code": 131051, "title": "Message type unknown"}]

    events = classify_whatsapp_payload(payload, connector="wa-main", team=None)

    assert events == [Ignored("unsupported_type:unsupported")]


def test_a_body_for_another_product_is_refused() -> None:
    with pytest.raises(ValueError, match="whatsapp_business_account"):
        normalize({"object": "page", "entry": []})


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


BODY = (FIXTURES / "text.json").read_bytes()


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(sign(BODY), id="exact"),
        pytest.param(sign(BODY).upper().replace("SHA256=", "sha256="), id="upper-hex"),
    ],
)
def test_signature_accepted(header: str) -> None:
    verify_signature(BODY, header, APP_SECRET)


@pytest.mark.parametrize(
    ("body", "header", "message"),
    [
        pytest.param(BODY, None, "no X-Hub-Signature-256", id="missing"),
        pytest.param(BODY, "sha1=abc", "not of the form", id="wrong-scheme"),
        pytest.param(BODY + b" ", sign(BODY), "does not match", id="body-changed"),
        pytest.param(BODY, sign(BODY, "other-secret"), "does not match", id="wrong-secret"),
        pytest.param(BODY, "sha256=", "not of the form", id="empty-digest"),
    ],
)
def test_signature_refused(body: bytes, header: str | None, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        verify_signature(body, header, APP_SECRET)


def test_subscription_handshake_echoes_the_challenge() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "tok", "hub.challenge": "1158201444"}

    assert verify_subscription(params, "tok") == "1158201444"


@pytest.mark.parametrize(
    ("params", "error"),
    [
        pytest.param(
            {"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
            SignatureError,
            id="wrong-token",
        ),
        pytest.param(
            {"hub.mode": "unsubscribe", "hub.verify_token": "tok", "hub.challenge": "1"},
            ValueError,
            id="wrong-mode",
        ),
        pytest.param(
            {"hub.mode": "subscribe", "hub.verify_token": "tok"}, ValueError, id="no-challenge"
        ),
    ],
)
def test_subscription_refused(params: dict[str, str], error: type[Exception]) -> None:
    with pytest.raises(error):
        verify_subscription(params, "tok")
