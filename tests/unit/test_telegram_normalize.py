"""Recorded Bot API updates through `normalize_telegram_update`, and its helpers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.outcome import Ignored
from connectors.telegram import (
    conversation_key,
    normalize_telegram_update,
    parse_start_payload,
    render_ack,
)
from ingest.contract import Channel, Inquiry

FIXTURES = Path(__file__).parent.parent / "fixtures" / "telegram"
BOT_ID = "7012345678"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def normalize(update: dict[str, Any], **overrides: Any) -> Inquiry | Ignored:
    options: dict[str, Any] = {"bot_id": BOT_ID, "bot_username": "acme_sales_bot", "team": "b2c"}
    options.update(overrides)
    return normalize_telegram_update(update, **options)


def inquiry(name: str) -> Inquiry:
    result = normalize(load(name))
    assert isinstance(result, Inquiry), result
    return result


def test_private_text_becomes_an_inquiry_with_ids_and_routing() -> None:
    result = inquiry("private_text")

    assert result.channel is Channel.TELEGRAM
    assert result.text == "Здравствуйте! Сколько стоит доставка в Казань?"
    assert result.sender.name == "Иван Петров"
    assert result.sender.messenger_ids == {"telegram": "123456789"}
    assert result.idempotency_key == f"telegram:{BOT_ID}:813745001"
    assert result.channel_ids == {
        "bot_id": BOT_ID,
        "chat_id": "123456789",
        "update_id": "813745001",
        "message_id": "42",
    }
    assert result.routing.connector == BOT_ID
    assert result.routing.team == "b2c"
    assert result.received_at == datetime(2024, 6, 20, 8, 0, tzinfo=UTC)
    assert result.fields["telegram_username"] == "ivanpetrov"


def test_start_deep_link_fills_the_source_and_keeps_the_raw_payload() -> None:
    result = inquiry("start_payload")

    assert result.source.utm_source == "google"
    assert result.source.utm_campaign == "spring"
    assert result.fields["start_payload"] == "utm_source-google__utm_campaign-spring"
    assert result.text is None, "the /start command is not something the person wrote"
    assert result.sender.name == "Anna"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(
            "utm_source-google__utm_campaign-spring",
            {"utm_source": "google", "utm_campaign": "spring"},
            id="utm-pairs",
        ),
        pytest.param(
            "utm_source-yandex__utm_medium-cpc__utm_content-banner-2",
            {"utm_source": "yandex", "utm_medium": "cpc", "utm_content": "banner-2"},
            id="value-may-contain-dash",
        ),
        pytest.param("src_google", {"utm_source": "google"}, id="short-src"),
        pytest.param(
            "src_vk__cmp_black_friday",
            {"utm_source": "vk", "utm_campaign": "black_friday"},
            id="short-keys-underscore",
        ),
        pytest.param("instagram", {"utm_source": "instagram"}, id="plain-word"),
        pytest.param(
            "promo-2024",
            {"utm_source": "promo-2024"},
            id="unknown-key-is-a-plain-source",
        ),
        pytest.param(
            "src_google__whatever",
            {"utm_source": "src_google__whatever"},
            id="partly-parsable-kept-whole",
        ),
    ],
)
def test_parse_start_payload(payload: str, expected: dict[str, str]) -> None:
    assert parse_start_payload(payload) == expected


@pytest.mark.parametrize(
    ("text", "payload"),
    [
        pytest.param("/start src_google", "src_google", id="plain"),
        pytest.param("/start@acme_sales_bot src_google", "src_google", id="addressed-to-us"),
        pytest.param("/start", None, id="no-payload"),
    ],
)
def test_start_variants(text: str, payload: str | None) -> None:
    update = load("start_payload")
    update["message"]["text"] = text

    result = normalize(update)

    assert isinstance(result, Inquiry)
    assert result.fields.get("start_payload") == payload
    assert result.fields["command"] == "start"


def test_start_addressed_to_another_bot_is_plain_text() -> None:
    update = load("start_payload")
    update["message"]["text"] = "/start@other_bot hi"

    result = normalize(update)

    assert isinstance(result, Inquiry)
    assert result.text == "/start@other_bot hi"
    assert result.source.utm_source is None


def test_own_shared_contact_becomes_the_sender_phone_in_e164() -> None:
    result = inquiry("contact")

    assert result.sender.phone == "+79161234567"
    assert "contact_phone" not in result.fields


def test_someone_elses_contact_is_kept_in_fields_not_as_the_sender() -> None:
    result = inquiry("contact_other")

    assert result.sender.phone is None
    assert result.fields["contact_phone"] == "+79035551234"
    assert result.fields["contact_name"] == "Ольга"


def test_invalid_own_contact_phone_is_ignored_but_kept_raw() -> None:
    update = load("contact")
    update["message"]["contact"]["phone_number"] = "12345"

    result = normalize(update)

    assert isinstance(result, Inquiry)
    assert result.sender.phone is None
    assert result.fields["contact_phone"] == "12345"


def test_photo_keeps_the_largest_size_and_the_caption() -> None:
    result = inquiry("photo_caption")

    assert result.fields["photo_file_id"] == "AgACAgIAAxkBAAIBq2Z0_large"
    assert result.fields["photo_size"] == "1280x960"
    assert result.fields["photo_file_size"] == "118204"
    assert result.text == "Нужна такая же дверь, 80x200\n[photo 1280x960]"


def test_document_metadata_goes_to_fields_and_text() -> None:
    result = inquiry("document")

    assert result.fields["document_file_name"] == "Техзадание_сайт.pdf"
    assert result.fields["document_mime_type"] == "application/pdf"
    assert result.fields["document_file_size"] == "183204"
    assert result.fields["document_file_id"] == "BQACAgIAAxkBAAIBrGZ0doc"
    assert result.text == "[document Техзадание_сайт.pdf, application/pdf]"


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        pytest.param("edited_message", "edited", id="edited"),
        pytest.param("group_message", "not_private", id="supergroup"),
        pytest.param("channel_post", "not_private", id="channel"),
        pytest.param("service_pin", "no_content", id="service-message"),
    ],
)
def test_non_inquiries_are_ignored_with_a_reason(fixture: str, reason: str) -> None:
    assert normalize(load(fixture)) == Ignored(reason)


def test_group_chat_type_is_not_private() -> None:
    update = load("private_text")
    update["message"]["chat"] = {"id": -4012345678, "title": "Team", "type": "group"}

    assert normalize(update) == Ignored("not_private")


def test_other_update_kinds_are_ignored() -> None:
    update = {"update_id": 1, "callback_query": {"id": "1", "data": "x"}}

    assert normalize(update) == Ignored("not_a_message")


def test_an_update_without_update_id_is_invalid() -> None:
    with pytest.raises(ValueError, match="update_id"):
        normalize({"message": {}})


def test_conversation_key_is_bot_plus_chat() -> None:
    assert conversation_key(BOT_ID, 123456789) == f"telegram:{BOT_ID}:123456789"
    assert conversation_key(BOT_ID, "123456789") == conversation_key(BOT_ID, 123456789)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param("Здравствуйте, {first_name}!", "Здравствуйте, Иван!", id="first-name"),
        pytest.param("{name}: {phone}", "Иван Петров: +79161234567", id="name-and-phone"),
        pytest.param("Hi {unknown} {0.__class__}", "Hi {unknown} {0.__class__}", id="unknown"),
    ],
)
def test_render_ack(template: str, expected: str) -> None:
    assert render_ack(template, inquiry("contact")) == expected


@pytest.mark.parametrize(
    ("text", "phone", "extension"),
    [
        pytest.param(
            "Перезвоните: 8 903 555-12-34 доб. 21, после обеда", "+79035551234", "21", id="ru"
        ),
        pytest.param("Call me on +44 20 7946 0958", "+442079460958", None, id="en"),
        pytest.param("Заказ № 89035551234 не пришёл", None, None, id="order-number-is-not-a-phone"),
    ],
)
def test_a_phone_typed_in_the_message_becomes_the_sender_phone(
    text: str, phone: str | None, extension: str | None
) -> None:
    update = load("private_text")
    update["message"]["text"] = text
    result = normalize(update)
    assert isinstance(result, Inquiry)
    assert result.sender.phone == phone
    assert result.fields.get("phone_ext") == extension
    assert result.text == text


def test_a_typed_phone_does_not_beat_the_shared_own_contact() -> None:
    update = load("contact")
    update["message"]["caption"] = "или звоните жене: 8 903 555-12-34"
    result = normalize(update)
    assert isinstance(result, Inquiry)
    assert result.sender.phone == "+79161234567"
