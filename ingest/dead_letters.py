"""Dead-lettering one record: its bytes, the reason and where it came from.

`dead_letter` builds the headers (the reason, the source topic, partition and
offset) and hands the record to `send`, the caller's way onto the dead-letter topic
(the consumer's retries transient faults). When the broker will never take the
record whole (too large, say), the headers go alone with that error, so the message
can still be found in its topic; when even that fails, the record is logged and
skipped. Returns the outcome the caller counts. `Interrupted` (stopped while a send
was retried) passes through. Imports `ingest.decoding`, `ingest.errors` and
`ingest.resilience`, never the consumer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Literal

from ingest.decoding import DeadLetter
from ingest.errors import Interrupted
from ingest.resilience import describe

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]
# value, key, headers
Send = Callable[[bytes, bytes | None, Headers], Awaitable[None]]
Outcome = Literal["dead_letter", "dead_letter_failed"]


async def dead_letter(letter: DeadLetter, send: Send) -> Outcome:
    """Send `letter`'s record, or failing that its headers alone, through `send`."""
    r = letter.record
    log.warning("dead-lettering %s[%d]@%d: %s", r.topic, r.partition, r.offset, letter.reason)
    headers = [
        ("reason", letter.reason[:1000].encode()),
        ("source_topic", r.topic.encode()),
        ("source_partition", str(r.partition).encode()),
        ("source_offset", str(r.offset).encode()),
    ]
    try:
        await send(r.value or b"", r.key, headers)
    except Interrupted:
        raise
    except Exception as exc:
        # The broker will never take it (e.g. too large): send the reason and
        # where it came from, so the message can still be found in its topic.
        log.error("cannot dead-letter offset %d whole: %s", r.offset, describe(exc))
        headers.append(("dead_letter_error", describe(exc).encode()))
        try:
            await send(b"", r.key, headers)
        except Interrupted:
            raise
        except Exception:
            log.exception("cannot dead-letter offset %d at all; skipping it", r.offset)
            return "dead_letter_failed"
    return "dead_letter"
