"""Store confirmations: what the consumer tells the edge journals after each commit.

The consumer publishes one message per batch on `Topics.stored` naming the
idempotency keys whose effects are now in the store (new, duplicate, or
dead-lettered with a reason). Each connector process reads them all and deletes
its journal entries with those keys; entries never confirmed are published again.
The format is JSON so any language can confirm: `{"stored": ["key", ...]}`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable


class InvalidConfirmation(ValueError):
    """A message on the confirmation topic that is not a confirmation."""


def encode_confirmation(keys: Iterable[str]) -> bytes:
    return json.dumps({"stored": sorted(set(keys))}, ensure_ascii=False).encode()


def decode_confirmation(raw: bytes | None) -> list[str]:
    """The keys a confirmation names; `InvalidConfirmation` for anything else."""
    if not raw:
        raise InvalidConfirmation("empty confirmation")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidConfirmation(f"not JSON: {exc}") from exc
    keys = body.get("stored") if isinstance(body, dict) else None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise InvalidConfirmation("'stored' must be a list of strings")
    return keys
