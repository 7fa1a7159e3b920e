"""The recorded `.eml` corpus through `parse_email`, its helpers, and input that must never raise.

Each fixture's expected outcome lives in `tests/fixtures/email/expected.json`, written
by `make_corpus.py` beside the messages it describes.
"""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

from connectors.email_body import split_body, unflow
from connectors.email_html import html_to_text
from connectors.email_parse import (
    FilteredMessage,
    ParsedEmail,
    classify_headers,
    decode_bytes,
    decode_header_value,
    parse_email,
)
from ingest.contract import Channel

FIXTURES = Path(__file__).parent.parent / "fixtures" / "email"
EXPECTED: dict[str, dict[str, Any]] = json.loads(
    (FIXTURES / "expected.json").read_text(encoding="utf-8")
)
MAILBOX = "sales@acme.ru"
RECEIVED = datetime(2024, 5, 20, 10, 0, tzinfo=timezone(timedelta(hours=3)))
TEAM = "b2b"


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse(raw: bytes, **overrides: Any) -> ParsedEmail | FilteredMessage:
    options: dict[str, Any] = {"mailbox": MAILBOX, "received_at": RECEIVED, "team": TEAM}
    options.update(overrides)
    return parse_email(raw, **options)


def lead(raw: bytes, **overrides: Any) -> ParsedEmail:
    result = parse(raw, **overrides)
    assert isinstance(result, ParsedEmail), result
    return result


def corpus(outcome: str) -> list[Any]:
    return [
        pytest.param(name, EXPECTED[name], id=name)
        for name in sorted(EXPECTED)
        if EXPECTED[name]["outcome"] == outcome
    ]


def message(headers: str, body: str | bytes) -> bytes:
    data = body.encode() if isinstance(body, str) else body
    return headers.replace("\n", "\r\n").encode() + b"\r\n" + data


# --- The corpus ---------------------------------------------------------------------------


def test_the_corpus_and_its_expectations_match() -> None:
    on_disk = {path.name for path in FIXTURES.glob("*.eml")}
    assert on_disk == set(EXPECTED)
    assert len(on_disk) >= 40
    reasons = {e["reason"] for e in EXPECTED.values() if e["outcome"] == "filtered"}
    assert reasons == {"auto_reply", "bounce", "bulk", "no_sender", "unparseable"}


@pytest.mark.parametrize(("name", "expected"), corpus("lead"))
def test_lead_fixture(name: str, expected: dict[str, Any]) -> None:
    result = lead(load(name))
    inquiry = result.inquiry

    assert inquiry.channel is Channel.EMAIL
    assert inquiry.sender.name == expected["name"]
    assert inquiry.sender.email == expected["email"]
    assert inquiry.sender.phone == expected.get("phone")
    assert inquiry.subject == expected["subject"]
    text = inquiry.text or ""
    for piece in expected.get("text_contains", []):
        assert piece in text, f"{piece!r} missing from {text!r}"
    for piece in expected.get("text_excludes", []):
        assert piece not in text, f"{piece!r} should be gone from {text!r}"
    for piece, count in expected.get("text_occurrences", {}).items():
        assert text.count(piece) == count
    if "text" in expected:
        assert inquiry.text == expected["text"]
    for piece in expected.get("full_text_contains", []):
        assert piece in result.full_text
    for piece in expected.get("text_contains", []):
        assert piece in result.full_text, "the record keeps everything the inquiry shows"

    assert len(result.attachments) == expected["attachments"]
    if "attachment_names" in expected:
        assert [a.filename for a in result.attachments] == expected["attachment_names"]
    if "attachment_sizes" in expected:
        assert [a.size for a in result.attachments] == expected["attachment_sizes"]
    if result.attachments:
        assert all(a.filename in inquiry.fields["attachments"] for a in result.attachments)
    else:
        assert "attachments" not in inquiry.fields
    if "fields" in expected:
        other = {k: v for k, v in inquiry.fields.items() if k != "attachments"}
        assert other == expected["fields"]

    assert inquiry.routing.team == TEAM
    assert inquiry.routing.connector == MAILBOX
    assert inquiry.received_at == RECEIVED.astimezone(UTC)
    if "message_id" in expected:
        assert result.message_id == expected["message_id"]
    if result.message_id:
        assert inquiry.idempotency_key == f"email:{MAILBOX}:{result.message_id}"
        assert inquiry.channel_ids["message_id"] == result.message_id
    else:
        assert "message_id" not in inquiry.channel_ids
        assert inquiry.idempotency_key.startswith(expected["idempotency_key_prefix"])
    assert inquiry.channel_ids["mailbox"] == MAILBOX
    assert all(inquiry.channel_ids.values()), "empty channel ids are omitted"
    if "channel_ids" in expected:
        assert inquiry.channel_ids == expected["channel_ids"]
    if "in_reply_to" in expected:
        assert result.in_reply_to == expected["in_reply_to"]
        assert inquiry.channel_ids["in_reply_to"] == expected["in_reply_to"]
    if "references" in expected:
        assert list(result.references) == expected["references"]
    if "references_channel_id_starts" in expected:
        joined = inquiry.channel_ids["references"]
        assert len(joined) <= 500
        assert joined.startswith(expected["references_channel_id_starts"])
        assert joined.endswith(expected["references_channel_id_ends"])


@pytest.mark.parametrize(("name", "expected"), corpus("filtered"))
def test_filtered_fixture(name: str, expected: dict[str, Any]) -> None:
    result = parse(load(name))

    assert isinstance(result, FilteredMessage), result
    assert result.reason == expected["reason"]
    assert result.detail
    if "detail_contains" in expected:
        assert expected["detail_contains"] in result.detail
    if "sender" in expected:
        assert result.sender == expected["sender"]
    if "message_id" in expected:
        assert result.message_id == expected["message_id"]


# --- Parameters and identity ----------------------------------------------------------------


@pytest.fixture
def ten_megabyte_attachment() -> bytes:
    payload = bytes(range(256)) * (10_000_000 // 256) + b"\x00" * (10_000_000 % 256)
    return message(
        "From: Big Sender <big@example.com>\nTo: sales@acme.ru\nSubject: Drawings\n"
        "Message-ID: <huge-1@example.com>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="huge"\n',
        "--huge\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nDrawings attached.\r\n"
        "--huge\r\nContent-Type: application/octet-stream; name=drawings.dwg\r\n"
        "Content-Disposition: attachment; filename=drawings.dwg\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(payload).decode().replace("\n", "\r\n")
        + "--huge--\r\n",
    )


def test_a_ten_megabyte_attachment_is_listed_with_its_size(ten_megabyte_attachment: bytes) -> None:
    result = lead(ten_megabyte_attachment)

    assert result.inquiry.text == "Drawings attached."
    assert [(a.filename, a.content_type, a.size) for a in result.attachments] == [
        ("drawings.dwg", "application/octet-stream", 10_000_000)
    ]
    assert (
        "drawings.dwg (application/octet-stream, 10000000 bytes)"
        in (result.inquiry.fields["attachments"])
    )


def test_a_text_part_over_the_limit_is_an_attachment_not_the_body() -> None:
    result = lead(load("gmail_q_utf8_split_words.eml"), max_attachment_bytes=50)

    assert result.inquiry.text is None
    assert [a.content_type for a in result.attachments] == ["text/plain"]
    assert result.attachments[0].size > 50


def test_no_message_id_hashes_the_bytes_stably() -> None:
    raw = load("no_message_id.eml")
    first, again = lead(raw), lead(raw)
    other = lead(raw.replace(b"Tver", b"Tula"))

    assert first.inquiry.idempotency_key == again.inquiry.idempotency_key
    assert first.inquiry.idempotency_key != other.inquiry.idempotency_key
    assert len(first.inquiry.idempotency_key) == len(f"email:{MAILBOX}:sha256:") + 64


def test_the_same_message_in_two_mailboxes_has_two_keys() -> None:
    raw = load("gmail_utf8_b_name.eml")
    here = lead(raw).inquiry
    there = lead(raw, mailbox="info@acme.ru").inquiry

    assert here.idempotency_key != there.idempotency_key
    assert there.routing.connector == "info@acme.ru"


def test_a_huge_message_id_still_gives_a_valid_key() -> None:
    raw = message(
        f"From: a@example.com\nMessage-ID: <{'x' * 600}@example.com>\nSubject: Hi\n", "Hello\n"
    )
    inquiry = lead(raw).inquiry

    assert inquiry.idempotency_key.startswith("email:sha256:")
    assert len(inquiry.channel_ids["message_id"]) == 500


def test_team_defaults_to_none_and_received_at_becomes_utc() -> None:
    result = parse_email(load("gmail_utf8_b_name.eml"), mailbox=MAILBOX, received_at=RECEIVED)

    assert isinstance(result, ParsedEmail)
    assert result.inquiry.routing.team is None
    assert result.inquiry.received_at == datetime(2024, 5, 20, 7, 0, tzinfo=UTC)


def test_a_naive_received_at_is_the_callers_bug() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_email(load("no_from.eml"), mailbox=MAILBOX, received_at=datetime(2024, 5, 20))  # noqa: DTZ001


@pytest.mark.parametrize(
    ("region", "phone"),
    [
        pytest.param("GB", "+442079460958", id="local-number-read-in-region"),
        pytest.param("RU", None, id="invalid-in-other-region"),
    ],
)
def test_default_region_reads_a_signature_phone(region: str, phone: str | None) -> None:
    raw = message(
        "From: Amy Stone <amy@stone.co.uk>\nSubject: Hi\nMessage-ID: <r@stone.co.uk>\n",
        "Please quote 10 pallets.\n\n-- \nAmy Stone\nTel: 020 7946 0958\n",
    )
    assert lead(raw, default_region=region).inquiry.sender.phone == phone


def test_reply_to_our_own_mailbox_is_not_the_sender() -> None:
    raw = message(
        f"From: Eva Gray <eva@gray.com>\nReply-To: {MAILBOX}\nSubject: Hi\nMessage-ID: <e@g>\n",
        "Hello\n",
    )
    assert lead(raw).inquiry.sender.email == "eva@gray.com"


def test_a_customer_subject_about_office_hours_is_a_lead() -> None:
    raw = message(
        "From: Max <max@shop.com>\nSubject: Out of office hours support\nMessage-ID: <m@s>\n",
        "Do you deliver on weekends?\n",
    )
    assert lead(raw).inquiry.subject == "Out of office hours support"


def test_classify_headers_passes_ordinary_mail() -> None:
    msg = BytesParser(policy=policy.default).parsebytes(load("outlook_suppress_normal_mail.eml"))
    assert classify_headers(msg) is None


# --- Never raise ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"   \r\n\r\n", id="whitespace"),
        pytest.param(b"\x00\xff\xfe" * 100, id="binary"),
        pytest.param(b"From: \r\n\r\n", id="empty-from"),
        pytest.param(
            b"From: <>\r\nContent-Type: multipart/mixed; boundary=\r\n\r\n--\r\n",
            id="empty-boundary",
        ),
        pytest.param(
            b"From: a@b.c\r\nContent-Type: text/plain; charset=base64\r\n\r\nSGk=\r\n",
            id="codec-charset",
        ),
        pytest.param(
            b"From: a@b.c\r\nSubject: =?utf-8?B?###?= =?utf-8?Q?=ZZ?=\r\n\r\nx", id="junk-words"
        ),
        pytest.param(
            b"From: a@b.c\r\nContent-Type: message/rfc822\r\n\r\nnot a message", id="bad-rfc822"
        ),
        pytest.param(
            b"From: a@b.c\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n"
            + b"--x\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n" * 200,
            id="deep-nesting",
        ),
    ],
)
def test_malformed_input_gives_an_outcome_not_an_exception(raw: bytes) -> None:
    result = parse(raw)
    assert isinstance(result, ParsedEmail | FilteredMessage)


def test_random_bytes_never_raise() -> None:
    rng = random.Random(20240520)
    for _ in range(200):
        raw = rng.randbytes(rng.randrange(0, 2000))
        assert isinstance(parse(raw), ParsedEmail | FilteredMessage)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_truncated_and_mutated_fixtures_never_raise(name: str) -> None:
    raw = load(name)
    rng = random.Random(name)
    for fraction in (0.05, 0.3, 0.5, 0.8, 0.97):
        assert isinstance(parse(raw[: int(len(raw) * fraction)]), ParsedEmail | FilteredMessage)
    for _ in range(5):
        mutated = bytearray(raw)
        for _ in range(20):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        assert isinstance(parse(bytes(mutated)), ParsedEmail | FilteredMessage)


# --- Helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        pytest.param("=?UTF-8?B?0JjQstCw0L0=?=", "Иван", id="b-utf8"),
        pytest.param("=?utf-8?q?=D0=98=D0=B2=D0=B0=D0=BD_=D0=9F?=", "Иван П", id="q-utf8"),
        pytest.param("=?windows-1251?B?yOLg7Q==?=", "Иван", id="b-cp1251"),
        pytest.param("=?koi8-r?Q?=E9=D7=C1=CE?=", "Иван", id="q-koi8r"),
        pytest.param("=?UTF-8?B?0Jg=?= =?UTF-8?B?0LLQsNC9?=", "Иван", id="adjacent-words-join"),
        pytest.param("=?UTF-8?Q?=D0?= =?UTF-8?Q?=98?=", "И", id="split-character"),
        pytest.param("Re: =?UTF-8?B?0JjQstCw0L0=?= (ACME)", "Re: Иван (ACME)", id="mixed"),
        pytest.param("=?x-unknown?B?0JjQstCw0L0=?=", "Иван", id="unknown-charset"),
        pytest.param("=?utf-8?B?@@@?=", "=?utf-8?B?@@@?=", id="broken-word-kept"),
        pytest.param("Привет\udcd0", "Привет\ufffd", id="stray-byte"),
        pytest.param("\udcc8\udce2\udce0\udced", "Иван", id="8bit-cp1251"),
        pytest.param("a\r\n b", "a b", id="folded"),
    ],
)
def test_decode_header_value(raw: str, decoded: str) -> None:
    assert decode_header_value(raw) == decoded


@pytest.mark.parametrize(
    ("data", "declared", "text"),
    [
        pytest.param("Иван".encode("koi8-r"), "koi8-r", "Иван", id="declared"),
        pytest.param("Иван".encode(), "x-unknown", "Иван", id="unknown-then-utf8"),
        pytest.param("Иван".encode("cp1251"), "utf-8", "Иван", id="mislabeled-cp1251"),
        pytest.param(b"caf\xe9\x98", None, "caf\xe9\x98", id="latin1-last"),
        pytest.param(b"SGk=", "base64", "SGk=", id="transform-codec-refused"),
    ],
)
def test_decode_bytes_falls_back(data: bytes, declared: str | None, text: str) -> None:
    assert decode_bytes(data, declared) == text


def test_html_to_text_keeps_links_and_quotes_and_drops_code() -> None:
    html = (
        "<head><title>t</title><style>p{x:1}</style></head><p>See <a href='https://a.ru/p'>"
        "prices</a> or <a href='https://a.ru/x'>https://a.ru/x</a></p><script>evil()</script>"
        "<div>On Mon, Bob wrote:</div><blockquote><div>old</div><blockquote>older</blockquote>"
        "</blockquote><p>unclosed <b>tags"
    )
    assert html_to_text(html) == (
        "See prices (https://a.ru/p) or https://a.ru/x\n\nOn Mon, Bob wrote:\n> old\n> > older"
        "\n\nunclosed tags"
    )


@pytest.mark.parametrize(
    ("body", "new_text", "signature"),
    [
        pytest.param(
            "Yes.\n\n-----Original Message-----\nFrom: x\nold", "Yes.", "", id="original-message"
        ),
        pytest.param("Ok\n\nSent from my iPhone", "Ok", "Sent from my iPhone", id="mobile-footer"),
        pytest.param(
            "Hi\n\nBest regards,\nAnn\n+7 912 345-67-89",
            "Hi",
            "Best regards,\nAnn\n+7 912 345-67-89",
            id="valediction",
        ),
        pytest.param(
            "> q1\n> q2\n\nanswer\n> q3\n\nanswer 2", "answer\n\nanswer 2", "", id="inline-answers"
        ),
        pytest.param(
            "Best regards to your whole team, we loved the visit.\nSee you.",
            "Best regards to your whole team, we loved the visit.\nSee you.",
            "",
            id="regards-in-a-sentence",
        ),
        pytest.param(
            "Note.\nOn Tue, 21 May 2024, Ann <ann@x.ru> wrote:\nunprefixed old text",
            "Note.",
            "",
            id="attribution-over-unprefixed-quote",
        ),
    ],
)
def test_split_body(body: str, new_text: str, signature: str) -> None:
    split = split_body(body)
    assert (split.new_text, split.signature, split.forwarded) == (new_text, signature, "")


def test_split_body_keeps_an_outlook_forward_only_for_forwards() -> None:
    body = "FYI\n\nFrom: Client <c@x.ru>\nSent: Monday\nTo: me\nSubject: Order\n\nPlease quote."

    assert split_body(body, is_forward=True).text.endswith("Please quote.")
    assert split_body(body, is_forward=False).text == "FYI"


def test_unflow_joins_soft_breaks() -> None:
    assert unflow("one \ntwo\n-- \nsig", delsp=False) == "one two\n-- \nsig"
    assert unflow("one \ntwo", delsp=True) == "onetwo"
