"""An outbox row's message, encoded once with its row, is the sweep's message byte for byte.

`publish_written` sends the text `encode_rows` made for the row insert; the sweep
reads the row back and encodes it again. Both must give the same key and bytes, and
the row must hold the payload (read back as the same data).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from crm_store.types import EncodedJSON, compact_json, json_serializer
from ingest.contract import Topics
from ingest.outbox import encode_rows
from ingest.outbox_publisher import _event_message, _outbound_message

TOPICS = Topics()
LEAD = str(uuid.uuid4())

PAYLOADS = [
    pytest.param({"type": "lead.created", "lead_id": LEAD, "team": "Sales"}, id="plain"),
    pytest.param(
        {"type": "lead.assigned", "lead_id": LEAD, "manager": "Ольга Петрова «Юг»"},
        id="non-ascii",
    ),
    pytest.param(
        {"type": "x", "lead_id": LEAD, "quote": 'a "b" \\ c\n', "n": 1.5, "none": None},
        id="escapes-numbers-null",
    ),
    pytest.param({"type": "x", "nested": {"a": [1, {"b": "ü"}]}, "empty": {}}, id="nested"),
    pytest.param({}, id="empty"),
    pytest.param({"type": "x", "event_id": "given"}, id="payload-with-event-id"),
    # A peer's JSON may escape a lone surrogate, which has no UTF-8 form.
    pytest.param({"type": "x", "lead_id": LEAD, "text": "a\udfffb Ж"}, id="lone-surrogate"),
]


def event_row(payload: dict[str, Any]) -> dict[str, Any]:
    return {"id": uuid.uuid4(), "payload": payload}


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_written_event_is_the_sweeps_message(payload: dict[str, Any]) -> None:
    row = event_row(dict(payload))
    (message,), _ = encode_rows([row], [])
    stored = json_serializer(row["payload"])
    assert type(row["payload"]) is EncodedJSON
    assert json.loads(stored) == payload, "the row holds the payload"
    topic, value, key = _event_message(TOPICS, row["id"], json.loads(stored))
    assert (message.id, message.key, message.value) == (row["id"], key, value)
    assert topic == TOPICS.lead_events
    whole = {"event_id": str(row["id"]), **payload}
    assert value == compact_json(whole).encode(), "spliced in as if encoded with the payload"
    assert json.loads(value) == whole


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_written_outbound_message_is_the_sweeps_message(payload: dict[str, Any]) -> None:
    payload = {**payload, "to": "ольга@example.test"}
    row = event_row(dict(payload))
    _, (message,) = encode_rows([], [row])
    stored = json_serializer(row["payload"])
    assert json.loads(stored) == payload
    topic, value, key = _outbound_message(TOPICS, row["id"], json.loads(stored))
    assert (message.id, message.key, message.value) == (row["id"], key, value)
    assert topic == TOPICS.outbound
    assert value == compact_json(payload).encode()
    assert json.loads(value) == payload
    assert key == "ольга@example.test".encode()
