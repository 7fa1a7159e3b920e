"""The Inquiry JSON contract: what any producer in any language must send."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from ingest.contract import SCHEMA_VERSION, Inquiry, inquiry_json_schema

from ..factories import make_inquiry

MINIMAL = {
    "idempotency_key": "pbx:call-1",
    "channel": "phone",
    "received_at": "2026-11-27T10:00:00+03:00",
    "sender": {"phone": "+79123456789"},
}


def test_minimal_json_from_another_language_is_accepted() -> None:
    inquiry = Inquiry.from_kafka(json.dumps(MINIMAL).encode())
    assert inquiry.schema_version == SCHEMA_VERSION
    assert inquiry.received_at.utcoffset() == timedelta(0)
    assert inquiry.received_at.hour == 7
    assert inquiry.key, "the partition key is derived when not given"


def test_round_trip_through_kafka_bytes() -> None:
    inquiry = make_inquiry()
    key, value = inquiry.to_kafka()
    again = Inquiry.from_kafka(value)
    assert again == inquiry
    assert key == inquiry.key.encode()


def test_same_sender_same_key_across_channels() -> None:
    a = make_inquiry(channel="web_form")
    b = make_inquiry(channel="email")
    assert a.key == b.key


@pytest.mark.parametrize(
    ("change", "where"),
    [
        pytest.param({"surprise": 1}, "surprise", id="unknown-field"),
        pytest.param({"channel": "fax"}, "channel", id="unknown-channel"),
        pytest.param({"received_at": "2026-11-27T10:00:00"}, "received_at", id="naive-time"),
        pytest.param({"schema_version": 2}, "schema_version", id="future-version"),
        pytest.param({"idempotency_key": ""}, "idempotency_key", id="empty-key"),
        pytest.param({"sender": {"nick": "x"}}, "sender", id="unknown-sender-field"),
    ],
)
def test_invalid_inquiry_names_the_field(change: dict[str, object], where: str) -> None:
    with pytest.raises(ValidationError) as info:
        Inquiry.model_validate({**MINIMAL, **change})
    assert where in str(info.value)


def test_inquiry_is_immutable() -> None:
    inquiry = make_inquiry()
    with pytest.raises(ValidationError):
        inquiry.text = "changed"  # type: ignore[misc]


def test_schema_documents_the_contract() -> None:
    schema = inquiry_json_schema()
    props = schema["properties"]
    assert isinstance(props, dict)
    for name in (
        "schema_version",
        "idempotency_key",
        "key",
        "channel",
        "received_at",
        "sender",
        "subject",
        "text",
        "source",
        "channel_ids",
    ):
        assert name in props
    required = schema["required"]
    assert isinstance(required, list)
    assert set(required) >= {"idempotency_key", "channel", "received_at"}


def test_received_at_keeps_the_instant() -> None:
    moscow = timezone(timedelta(hours=3))
    inquiry = make_inquiry(received_at=datetime(2026, 1, 1, 12, 0, tzinfo=moscow))
    assert inquiry.received_at == datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
