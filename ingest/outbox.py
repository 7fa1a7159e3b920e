"""The outbox's messages: a lead event or an outbound row as the key and bytes published.

A lead event goes to `Topics.lead_events` as `{"event_id": ..., **payload}` keyed by
its lead, an outbound message to `Topics.outbound` as its payload keyed by its
recipient, both compact UTF-8 JSON (`crm_store.types.compact_json`). Rows a batch has just
built are encoded once here (`encode_rows`): the text goes into the row's JSON
column as it is (`EncodedJSON`) and the message is made from the same text, so the
consumer does not encode each payload a second time to publish it. The sweep encodes
the rows it reads back with the same functions: same key, same bytes. Pure: no I/O.
"""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple

from crm_store.types import EncodedJSON, compact_json


class OutboxMessage(NamedTuple):
    """One outbox row's message, ready for its topic."""

    id: uuid.UUID
    key: bytes
    value: bytes


def payload_text(payload: dict[str, Any]) -> str:
    """The payload as JSON text: `compact_json`, so always UTF-8 encodable."""
    return compact_json(payload)


def event_message(event_id: uuid.UUID, payload: dict[str, Any], text: str) -> OutboxMessage:
    """A lead event's message; `text` is `payload_text(payload)`."""
    if text == "{}" or "event_id" in payload:
        value = payload_text({"event_id": str(event_id), **payload}).encode()
    else:
        # The same bytes as encoding {"event_id": ..., **payload}: the compact encoder
        # writes '{' + '"event_id":"…"' + ',' + the payload's items + '}'.
        value = f'{{"event_id":"{event_id}",{text[1:]}'.encode()
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
