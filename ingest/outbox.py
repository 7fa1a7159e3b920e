"""The outbox's messages: a lead event or an outbound row as the key and bytes published.

A lead event goes to `Topics.lead_events` as `{"event_id": ..., **payload}` keyed by
its lead, an outbound message to `Topics.outbound` as its payload keyed by its
recipient, both UTF-8 JSON (`json.dumps`, `ensure_ascii=False`). Rows a batch has just
built are encoded once here (`encode_rows`): the text goes into the row's JSON
column as it is (`EncodedJSON`) and the message is made from the same text, so the
consumer does not encode each payload a second time to publish it. The sweep encodes
the rows it reads back with the same functions: same key, same bytes. Pure: no I/O.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, NamedTuple

from crm_store.types import EncodedJSON


class OutboxMessage(NamedTuple):
    """One outbox row's message, ready for its topic."""

    id: uuid.UUID
    key: bytes
    value: bytes


# `json.dumps` with any non-default option builds a new encoder per call, which cost
# as much as encoding a small payload (issue 11); this one is what it would build.
_ENCODER = json.JSONEncoder(ensure_ascii=False)


def payload_text(payload: dict[str, Any]) -> str:
    """`json.dumps(payload, ensure_ascii=False)`."""
    return _ENCODER.encode(payload)


def event_message(event_id: uuid.UUID, payload: dict[str, Any], text: str) -> OutboxMessage:
    """A lead event's message; `text` is `payload_text(payload)`."""
    if text == "{}" or "event_id" in payload:
        value = payload_text({"event_id": str(event_id), **payload}).encode()
    else:
        # The same bytes as encoding {"event_id": ..., **payload}: json.dumps writes
        # '{' + '"event_id": "…"' + ', ' + the payload's items + '}'.
        value = f'{{"event_id": "{event_id}", {text[1:]}'.encode()
    return OutboxMessage(event_id, str(payload.get("lead_id", "")).encode(), value)


def outbound_message(record_id: uuid.UUID, payload: dict[str, Any], text: str) -> OutboxMessage:
    """An outbound row's message; `text` is `payload_text(payload)`."""
    return OutboxMessage(record_id, str(payload.get("to", "")).encode(), text.encode())


def encode_rows(
    events: list[dict[str, Any]], outbound: list[dict[str, Any]]
) -> tuple[list[OutboxMessage], list[OutboxMessage]]:
    """Encode each row's payload once: into the row (`EncodedJSON`, written as it is)
    and into its message, which is returned."""
    event_messages = []
    for row in events:
        payload = row["payload"]
        text = payload_text(payload)
        row["payload"] = EncodedJSON(text)
        event_messages.append(event_message(row["id"], payload, text))
    outbound_messages = []
    for row in outbound:
        payload = row["payload"]
        text = payload_text(payload)
        row["payload"] = EncodedJSON(text)
        outbound_messages.append(outbound_message(row["id"], payload, text))
    return event_messages, outbound_messages
