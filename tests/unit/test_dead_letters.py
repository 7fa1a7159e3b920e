"""`dead_letter` (moved out of the consumer) sends what the consumer sent before.

The record whole with its reason and origin; when the broker refuses that, the
headers alone with the refusal; when both fail, the outcome says so; and a stop
while a send is retried passes through, so the batch is not committed.
"""

from __future__ import annotations

import pytest
from aiokafka.structs import ConsumerRecord

from ingest.dead_letters import Headers, dead_letter
from ingest.decoding import DeadLetter
from ingest.errors import Interrupted

ORIGIN = [
    ("reason", b"ValueError: bad"),
    ("source_topic", b"leadflow.inquiries"),
    ("source_partition", b"2"),
    ("source_offset", b"41"),
]


def letter(value: bytes | None = b"{}", reason: str = "ValueError: bad") -> DeadLetter:
    record = ConsumerRecord("leadflow.inquiries", 2, 41, 0, 0, b"key", value, None, 3, 2, [])
    return DeadLetter(record, reason)


REFUSAL = ValueError("MessageSizeTooLargeError")


class Broker:
    """Answers the n-th send with the n-th of `errors` (None: taken); records each send."""

    def __init__(self, *errors: Exception | None) -> None:
        self.errors = list(errors)
        self.sent: list[tuple[bytes, bytes | None, Headers]] = []

    async def send(self, value: bytes, key: bytes | None, headers: Headers) -> None:
        self.sent.append((value, key, list(headers)))
        error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise error


async def test_the_record_goes_whole_with_its_reason_and_origin() -> None:
    broker = Broker()
    assert await dead_letter(letter(), broker.send) == "dead_letter"
    assert broker.sent == [(b"{}", b"key", ORIGIN)]


async def test_a_record_without_a_value_goes_as_empty_bytes() -> None:
    broker = Broker()
    assert await dead_letter(letter(value=None), broker.send) == "dead_letter"
    assert broker.sent == [(b"", b"key", ORIGIN)]


async def test_the_reason_is_cut_at_1000_characters() -> None:
    broker = Broker()
    await dead_letter(letter(reason="x" * 1500), broker.send)
    assert broker.sent[0][2][0] == ("reason", b"x" * 1000)


async def test_a_refused_record_goes_as_its_headers_and_the_refusal() -> None:
    broker = Broker(REFUSAL)
    assert await dead_letter(letter(), broker.send) == "dead_letter"
    refusal = ("dead_letter_error", b"ValueError: MessageSizeTooLargeError")
    assert broker.sent == [(b"{}", b"key", ORIGIN), (b"", b"key", [*ORIGIN, refusal])]


async def test_when_both_sends_fail_the_record_is_skipped_and_counted() -> None:
    broker = Broker(REFUSAL, REFUSAL)
    assert await dead_letter(letter(), broker.send) == "dead_letter_failed"
    assert len(broker.sent) == 2


@pytest.mark.parametrize(
    "errors",
    [
        pytest.param((Interrupted("stop"),), id="first-send"),
        pytest.param((REFUSAL, Interrupted("stop")), id="headers-only-send"),
    ],
)
async def test_a_stop_while_sending_passes_through(errors: tuple[Exception, ...]) -> None:
    broker = Broker(*errors)
    with pytest.raises(Interrupted):
        await dead_letter(letter(), broker.send)
    assert len(broker.sent) == len(errors)
