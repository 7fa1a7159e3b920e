"""The contract's limits: cleaning, bounds, the store's columns, and the pure edge helpers."""

from __future__ import annotations

import json
import logging
from ipaddress import ip_network
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import String, Text

from connectors.edge import (
    FORWARDED_MAX_HOPS,
    WebhookProblem,
    client_ip,
    parse_json_object,
    parse_urlencoded,
)
from connectors.webform import FormRejected, Submission, normalize_submission
from crm_store.models import Base
from ingest.contract import Inquiry, limits
from ingest.contract.limits import clean_text, valid_ip
from ingest.decision_parts import inbound_activity, title_for
from ingest.matching import company_from_email
from leadflow.logs import REDACTED, RedactSecrets, redact

from ..factories import NOW, make_form, make_inquiry

TRUSTED = (ip_network("10.0.0.0/8"), ip_network("fd00::/8"))


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        pytest.param("a\x00b", "ab", id="nul"),
        pytest.param("a\x01\x07\x08\x0b\x0c\x1b\x1fb", "ab", id="c0-controls"),
        pytest.param("line\tone\r\nline two\n", "line\tone\r\nline two\n", id="tab-cr-lf-kept"),
        pytest.param("a\ud800b\udfffc", "abc", id="lone-surrogates"),
        pytest.param("Привет 👋 \x7f", "Привет 👋 \x7f", id="unicode-and-del-kept"),
        pytest.param("", "", id="empty"),
    ],
)
def test_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


def _foreign(**overrides: Any) -> dict[str, Any]:
    """An Inquiry as another producer would write it: plain JSON, no classes of ours."""
    values: dict[str, Any] = {
        "idempotency_key": "crm-x:1",
        "channel": "web_form",
        "received_at": "2026-11-27T10:00:00Z",
        "sender": {"name": "Ivan", "email": "ivan@example.com"},
        "text": "Hello",
    }
    values.update(overrides)
    return values


def _decode(values: dict[str, Any]) -> Inquiry:
    return Inquiry.from_kafka(json.dumps(values).encode())


def test_a_foreign_inquiry_is_cleaned_of_nul_and_controls_when_decoded() -> None:
    inquiry = _decode(
        _foreign(
            sender={"name": "Iv\u0000an", "email": "ivan@example.com", "company": "A\u0001cme"},
            subject="Re\u0000: price",
            text="line\u0000 one\nline two",
            fields={"ci\u0000ty": "Mos\u0000cow"},
            channel_ids={"message_id": "<a\u0000b@x>"},
            idempotency_key="crm\u0000-x:1",
        )
    )
    assert inquiry.sender.name == "Ivan"
    assert inquiry.sender.company == "Acme"
    assert inquiry.subject == "Re: price"
    assert inquiry.text == "line one\nline two"
    assert inquiry.fields == {"city": "Moscow"}
    assert inquiry.channel_ids == {"message_id": "<ab@x>"}
    assert inquiry.idempotency_key == "crm-x:1"
    assert "\\u0000" not in inquiry.model_dump_json()


@pytest.mark.parametrize(
    ("section", "name", "limit"),
    [
        pytest.param("source", "referrer", limits.URL_MAX, id="referrer"),
        pytest.param("source", "landing_url", limits.URL_MAX, id="landing-url"),
        pytest.param("source", "utm_source", limits.UTM_MAX, id="utm-source"),
        pytest.param("source", "utm_content", limits.UTM_MAX, id="utm-content"),
        pytest.param("client", "user_agent", limits.USER_AGENT_MAX, id="user-agent"),
    ],
)
def test_overlong_metadata_is_cut_not_refused(section: str, name: str, limit: int) -> None:
    inquiry = _decode(_foreign(**{section: {name: "x" * 5_000}}))
    assert getattr(getattr(inquiry, section), name) == "x" * limit


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(_foreign(sender={"name": "x" * 501}), id="name-501"),
        pytest.param(_foreign(sender={"email": "a@" + "b" * 400 + ".ru"}), id="email"),
        pytest.param(_foreign(sender={"phone": "+7" * 20}), id="phone"),
        pytest.param(_foreign(sender={"company": "c" * 301}), id="company-301"),
        pytest.param(_foreign(subject="s" * 501), id="subject"),
        pytest.param(_foreign(text="t" * 100_001), id="message"),
        pytest.param(_foreign(idempotency_key="k" * 301), id="idempotency-key"),
        pytest.param(_foreign(key="k" * 65), id="partition-key"),
        pytest.param(_foreign(fields={"f": "v" * 10_001}), id="field-value"),
        pytest.param(_foreign(fields={"f" * 101: "v"}), id="field-name"),
        pytest.param(_foreign(fields={f"f{i}": "v" for i in range(101)}), id="field-count"),
        pytest.param(_foreign(channel_ids={"chat_id": "1" * 501}), id="channel-id"),
        pytest.param(
            _foreign(sender={"messenger_ids": {"telegram": "1" * 129}}), id="messenger-id"
        ),
        pytest.param(_foreign(sender={"messenger_ids": {"t" * 33: "1"}}), id="messenger-kind"),
        pytest.param(_foreign(routing={"team": "t" * 201}), id="team-name"),
    ],
)
def test_overlong_customer_values_and_identities_fail_validation(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _decode(values)


def test_lone_surrogate_escapes_from_a_foreign_producer_fail_validation() -> None:
    with pytest.raises(ValidationError):
        Inquiry.from_kafka(b'{"idempotency_key": "k\\ud800", "channel": "email"}')


def test_lone_surrogates_from_python_are_stripped_so_the_json_encodes() -> None:
    inquiry = make_inquiry(text="bad \ud83d half")
    assert inquiry.text == "bad  half"
    assert Inquiry.from_kafka(inquiry.to_kafka()[1]) == inquiry


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        pytest.param("1.2.3.4", "1.2.3.4", id="v4"),
        pytest.param(" 2001:DB8::1 ", "2001:db8::1", id="v6-canonical"),
        pytest.param("::ffff:1.2.3.4", "1.2.3.4", id="v4-mapped"),
        pytest.param("1.2.3.4, 5.6.7.8", None, id="a-list"),
        pytest.param("unknown", None, id="garbage"),
        pytest.param("1" * 200, None, id="200-chars"),
        pytest.param("", None, id="empty"),
    ],
)
def test_the_client_ip_is_a_valid_ip_or_none(raw: str, stored: str | None) -> None:
    assert _decode(_foreign(client={"ip": raw})).client.ip == stored
    assert valid_ip(raw) == stored


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        pytest.param("8.8.8.8", "1.2.3.4", "8.8.8.8", id="untrusted-peer-ignores-xff"),
        pytest.param("10.0.0.1", None, "10.0.0.1", id="trusted-peer-no-xff"),
        pytest.param("10.0.0.1", "1.2.3.4", "1.2.3.4", id="one-hop"),
        pytest.param("10.0.0.1", "1.2.3.4, 10.0.0.7", "1.2.3.4", id="two-trusted-hops"),
        pytest.param("10.0.0.1", "6.6.6.6, 1.2.3.4", "1.2.3.4", id="spoofed-left-entry-ignored"),
        pytest.param("10.0.0.1", "garbage, 1.2.3.4", "1.2.3.4", id="garbage-left-of-client"),
        pytest.param("10.0.0.1", "1.2.3.4, garbage", "10.0.0.1", id="garbage-at-the-proxy"),
        pytest.param("10.0.0.1", "x" * 200, "10.0.0.1", id="200-char-entry"),
        pytest.param("10.0.0.1", "1" * 70, "10.0.0.1", id="70-digit-entry"),
        pytest.param("10.0.0.1", ", ".join(["9.9.9.9"] * 1_000), "9.9.9.9", id="1000-entries"),
        pytest.param(
            "10.0.0.1",
            ", ".join(["9.9.9.9"] + ["10.0.0.2"] * (FORWARDED_MAX_HOPS + 5)),
            "10.0.0.2",
            id="hops-past-the-cap-are-not-read",
        ),
        pytest.param("10.0.0.1", "10.0.0.3, 10.0.0.2", "10.0.0.3", id="only-proxies"),
        pytest.param("10.0.0.1", "1.2.3.4:5678", "1.2.3.4", id="v4-with-port"),
        pytest.param("10.0.0.1", "[2001:db8::5]:443", "2001:db8::5", id="v6-with-port"),
        pytest.param("fd00::1", "2001:db8::9", "2001:db8::9", id="v6-proxy"),
        pytest.param("not-an-ip", "1.2.3.4", None, id="peer-not-an-ip"),
        pytest.param(None, "1.2.3.4", None, id="no-peer"),
    ],
)
def test_x_forwarded_for_is_read_right_to_left_past_trusted_proxies(
    peer: str | None, forwarded: str | None, client: str | None
) -> None:
    assert client_ip(peer, forwarded, TRUSTED) == client


@pytest.mark.parametrize(
    ("raw", "sentence"),
    [
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "nested too deeply", id="100k-deep"),
        pytest.param(b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "nested too deeply", id="objects"),
        pytest.param(b'{"name": "\xff\xfe"}', "UTF-8", id="invalid-utf8"),
        pytest.param(b'{"name": "a\\ud800"}', "not valid JSON", id="lone-surrogate-escape"),
        pytest.param(b'{"name": ', "not valid JSON", id="truncated"),
        pytest.param(b"[1, 2]", "must be an object", id="not-an-object"),
    ],
)
def test_bad_json_is_a_400_with_a_sentence(raw: bytes, sentence: str) -> None:
    with pytest.raises(WebhookProblem) as caught:
        parse_json_object(raw)
    assert caught.value.status == 400
    assert sentence in caught.value.detail


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        pytest.param(b"name=\xff\xfe", 400, id="raw-invalid-utf8"),
        pytest.param(b"name=%FF%FE", 400, id="percent-encoded-invalid-utf8"),
        pytest.param(b"&".join(b"f%d=v" % i for i in range(1_000)), 413, id="1000-fields"),
    ],
)
def test_bad_urlencoded_bodies_are_refused(raw: bytes, status: int) -> None:
    with pytest.raises(WebhookProblem) as caught:
        parse_urlencoded(raw)
    assert caught.value.status == status


def test_urlencoded_nul_arrives_and_the_contract_strips_it() -> None:
    pairs = parse_urlencoded(b"name=a%00b&email=ivan%40example.com")
    outcome = normalize_submission(make_form(), Submission(dict(pairs), NOW))
    assert isinstance(outcome, Inquiry)
    assert outcome.sender.name == "ab"


def _submit(data: dict[str, str], **sub: Any) -> Inquiry | FormRejected:
    return normalize_submission(make_form(), Submission(data, NOW, **sub))


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        pytest.param({"name": "n" * 501}, "name", "longer than 500", id="name-501"),
        pytest.param({"phone": "1" * 501}, "phone", "longer than 500", id="phone"),
        pytest.param({"message": "m" * 100_001}, "message", "longer than 100,000", id="message"),
        pytest.param({"city": "c" * 10_001}, "city", "longer than 10,000", id="extra-field"),
    ],
)
def test_overlong_customer_fields_are_refused_naming_the_field(
    data: dict[str, str], field: str, words: str
) -> None:
    outcome = _submit({"email": "ivan@example.com", **data})
    assert isinstance(outcome, FormRejected)
    assert words in outcome.errors[field]


def test_an_overlong_submission_id_is_refused() -> None:
    outcome = _submit({"email": "ivan@example.com"}, submission_id="k" * 5_000)
    assert isinstance(outcome, FormRejected)
    assert "Idempotency-Key" in outcome.errors


def test_too_many_extra_fields_are_refused() -> None:
    data = {"email": "ivan@example.com", **{f"f{i}": "v" for i in range(limits.FIELDS_MAX + 1)}}
    outcome = _submit(data)
    assert isinstance(outcome, FormRejected)
    assert "more than" in outcome.errors["_form"]


def test_overlong_metadata_from_the_edge_is_cut() -> None:
    outcome = _submit(
        {"email": "ivan@example.com", "utm_source": "u" * 5_000},
        referrer="https://r.example/" + "r" * 5_000,
        user_agent="Mozilla/" + "a" * 5_000,
    )
    assert isinstance(outcome, Inquiry)
    assert len(outcome.source.referrer or "") == limits.URL_MAX
    assert len(outcome.source.utm_source or "") == limits.UTM_MAX
    assert len(outcome.client.user_agent or "") == limits.USER_AGENT_MAX


# The store's bounded columns that an inquiry fills, and the longest value it can put
# there. A column made shorter than this, or a limit raised past it, fails here.
_DOMAIN_MAX = limits.EMAIL_MAX  # a company domain comes from an email address
PINNED: list[tuple[str, str, int]] = [
    ("inquiry_record", "idempotency_key", limits.IDEMPOTENCY_KEY_MAX),
    ("inquiry_record", "sender_key", limits.PARTITION_KEY_MAX),
    ("inquiry_record", "client_ip", limits.IP_MAX),
    ("inquiry_record", "channel", max(len(c) for c in ("web_form", "telegram", "whatsapp"))),
    ("contact", "name", limits.NAME_MAX),
    ("contact", "email", limits.EMAIL_MAX),
    ("contact", "phone", limits.PHONE_MAX),
    ("contact_identity", "kind", max(limits.MESSENGER_KIND_MAX, len("email"))),
    (
        "contact_identity",
        "value",
        max(limits.EMAIL_MAX, limits.PHONE_MAX, limits.MESSENGER_ID_MAX),
    ),
    ("lead", "title", 500),  # title_for cuts, asserted below
    ("activity", "subject", 500),  # inbound_activity cuts, asserted below
    ("message_ref", "message_id", limits.CHANNEL_ID_MAX),
    ("notification_setting", "telegram_bot", limits.ROUTING_NAME_MAX),
]
UNBOUNDED = [
    ("company", "name"),  # a company given, or made from an email domain
    ("company", "domain"),
    ("outbound_record", "recipient"),  # an email address or a chat id
    ("notification_setting", "telegram_chat_id"),
]


@pytest.mark.parametrize(
    ("table", "column", "longest"), [pytest.param(*p, id=f"{p[0]}.{p[1]}") for p in PINNED]
)
def test_bounded_columns_hold_the_longest_value_an_inquiry_can_bring(
    table: str, column: str, longest: int
) -> None:
    kind = Base.metadata.tables[table].c[column].type
    assert isinstance(kind, String)
    assert kind.length is not None
    assert kind.length >= longest


@pytest.mark.parametrize(
    ("table", "column"), [pytest.param(*u, id=f"{u[0]}.{u[1]}") for u in UNBOUNDED]
)
def test_derived_columns_are_unbounded(table: str, column: str) -> None:
    kind = Base.metadata.tables[table].c[column].type
    assert isinstance(kind, Text) or getattr(kind, "length", 0) is None


def test_derived_values_fit_their_columns() -> None:
    longest = make_inquiry(
        sender={"name": "n" * limits.NAME_MAX, "email": "a@" + "d" * 300 + ".ru"},
        subject="s" * limits.SUBJECT_MAX,
    )
    assert len(title_for(longest)) <= 500
    assert len(inbound_activity(longest, NOW).subject) <= 500
    assert len(company_from_email(longest.sender.email) or "") <= _DOMAIN_MAX


TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        pytest.param(
            f'HTTP Request: POST https://api.telegram.org/bot{TOKEN}/getUpdates "HTTP/1.1 200 OK"',
            TOKEN,
            id="httpx-request-line",
        ),
        pytest.param(f"telegram.error.InvalidToken: {TOKEN}", TOKEN, id="bare-token"),
        pytest.param(
            "http://127.0.0.1:9/bot12345:short-test-token/getMe",
            "short-test-token",
            id="any-bot-url",
        ),
        pytest.param("postgresql+asyncpg://app:s3cr3t-pw@db/crm", "s3cr3t-pw", id="url-password"),
        pytest.param("Authorization: Bearer lf_abcdef123456", "lf_abcdef123456", id="bearer"),
        pytest.param("GET /webhooks/wa?hub.verify_token=vt-123456", "vt-123456", id="verify-token"),
        pytest.param("login with password=hunter22", "hunter22", id="password-param"),
    ],
)
def test_redact(line: str, secret: str) -> None:
    redacted = redact(line)
    assert secret not in redacted
    assert REDACTED in redacted


def test_the_filter_redacts_arguments_and_tracebacks_and_known_secrets() -> None:
    try:
        raise RuntimeError(f"https://api.telegram.org/bot{TOKEN}/getMe failed")
    except RuntimeError as exc:
        record = logging.LogRecord(
            "httpx",
            logging.INFO,
            __file__,
            1,
            "calling %s with %s",
            (TOKEN, "opaque-s3cret"),
            (type(exc), exc, exc.__traceback__),
        )
    RedactSecrets(["opaque-s3cret"]).filter(record)
    text = logging.Formatter().format(record)
    assert TOKEN not in text
    assert "opaque-s3cret" not in text
    assert "RuntimeError" in text


def test_a_malformed_request_is_logged_at_info_without_a_traceback() -> None:
    from aiohttp.http_exceptions import LineTooLong

    from leadflow.logs import ClientErrorsAtInfo

    exc = LineTooLong("X-Forwarded-For", "8190")
    record = logging.LogRecord(
        "aiohttp.server",
        logging.ERROR,
        __file__,
        1,
        "Error handling request from %s",
        ("127.0.0.1",),
        (type(exc), exc, None),
    )
    ClientErrorsAtInfo().filter(record)
    assert record.levelno == logging.INFO
    assert record.exc_info is None
    assert "127.0.0.1" in record.getMessage()


@pytest.mark.parametrize(
    ("row", "words"),
    [
        pytest.param({"Company": "c" * 301}, "'Company' is longer than 300", id="company-301"),
        pytest.param({"Last": "l" * 300, "First": "f" * 300}, "longer than 500", id="joined-name"),
        pytest.param({f"x{i}": "v" for i in range(101)}, "more than 100 extra", id="101-extras"),
        pytest.param({"x" * 101: "v"}, "column name is longer", id="long-column-name"),
    ],
)
def test_import_rows_past_the_contract_limits_are_rejected_not_raised(
    row: dict[str, str], words: str
) -> None:
    from connectors.spreadsheet import (
        RejectedRow,
        normalize_row,
        parse_mapping_option,
        resolve_mapping,
    )

    full = {"Phone": "89161234567", **row}
    option = "Phone=phone,Company=company,Last=name,First=name"
    headers = ["Phone", "Company", "Last", "First", *row]
    mapping = resolve_mapping(list(dict.fromkeys(headers)), parse_mapping_option(option))
    mapping = {h: f for h, f in mapping.items() if h in full}
    result = normalize_row(
        full, mapping=mapping, file_hash="f" * 64, row_number=2, received_at=NOW, team=None
    )
    assert isinstance(result, RejectedRow)
    assert words in result.reason


def test_a_declared_charset_is_honoured_and_an_unknown_one_refused() -> None:
    assert parse_urlencoded("name=Иван".encode("cp1251"), "windows-1251") == [("name", "Иван")]
    assert parse_urlencoded(b"name=%C8%E2%E0%ED", "windows-1251") == [("name", "Иван")]
    with pytest.raises(WebhookProblem) as caught:
        parse_urlencoded(b"name=x", "no-such-charset")
    assert caught.value.status == 400
