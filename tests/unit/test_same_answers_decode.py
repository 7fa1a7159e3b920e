"""The consumer's cheaper decoding answers exactly as the code it replaced (issue 11).

`Inquiry.from_kafka` validates a record that carries its key without the
`_derive_key` step (straight from JSON), `valid_ip` reads a canonical IPv4 address
with a regex, `renormalized` returns an inquiry whose identities are already
normal without copying it, and spam's "valid phone" asks `is_canonical_phone` first. Each test keeps the former version (or pydantic's own
`model_validate_json`) as its reference and compares the two over generated inputs,
hostile ones included: every field replaced by any JSON value, keys missing, repeated
or unknown, documents that are no object or no JSON, octets with leading zeros,
other digits and spaces, addresses and numbers in every written form.
"""

from __future__ import annotations

import json
import random
from ipaddress import ip_address
from typing import Any

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat
from pydantic import ValidationError

from ingest import spam
from ingest.contract import Inquiry, InvalidIdentity, Sender, normalize_email
from ingest.contract import inquiry as inquiry_module
from ingest.contract.identity import normalize_phone
from ingest.contract.limits import IP_MAX, valid_ip
from ingest.decoding import _read_phone, renormalized

from ..factories import make_inquiry

# --- from_kafka --------------------------------------------------------------------


def _outcome(validate: Any, raw: bytes, without_id: bool) -> tuple[Any, ...]:
    """What a validation gives, spelled out: type, repr, JSON and the fields set at
    every level, or the errors (a record without an id gets a new random one, so the
    id is left out then)."""
    try:
        inquiry = validate(raw)
    except ValidationError as exc:
        return ("refused", exc.errors(include_url=False), exc.title)
    exclude = {"id"} if without_id else None
    return (
        type(inquiry),
        repr(inquiry.model_copy(update={"id": None})) if without_id else repr(inquiry),
        inquiry.model_dump_json(exclude=exclude),
        inquiry.model_fields_set,
        {name: getattr(inquiry, name).model_fields_set for name in _NESTED},
    )


_NESTED = ("sender", "source", "routing", "client")


def _assert_same(raw: bytes) -> None:
    try:
        document = json.loads(raw)
    except ValueError:
        document = None
    without_id = not (isinstance(document, dict) and "id" in document)
    fast = _outcome(Inquiry.from_kafka, raw, without_id)
    usual = _outcome(Inquiry.model_validate_json, raw, without_id)
    assert fast == usual, raw


def _base() -> dict[str, Any]:
    inquiry = make_inquiry(
        subject="Re: licenses",
        fields={"city": "Тверь", "phone_ext": "12"},
        channel_ids={"message_id": "<a@b>"},
    )
    document: dict[str, Any] = inquiry.model_dump(mode="json")
    document["client"] = {"ip": "10.1.2.3", "user_agent": "Mozilla/5.0"}
    document["sender"]["messenger_ids"] = {"telegram": "42"}
    document["review"] = {"of_inquiry": document["id"], "by_user": 7}
    return document


_ODD_TEXT = st.text(
    st.sampled_from("aZ09 .-_@+:\t\n\x00\x1f\x7f\u00a0\u2028éжЁ😀\ud800"), max_size=12
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _ODD_TEXT
    | st.sampled_from(
        [
            "",
            " ",
            "1",
            "1.0",
            "true",
            "web_form",
            "WEB_FORM",
            "email",
            "2026-12-03T07:30:00+03:00",
            "2026-12-03T07:30:00",
            "2026-12-03",
            "1733211000",
            "01a23c1b-9d08-75cb-a405-8ebba59298f8",
            "01a23c1b9d0875cba4058ebba59298f8",
            "+79123456789",
            " Ivan@Example.COM ",
            "::ffff:10.0.0.1",
            "10.0.0.01",
            "x" * 65,
            "x" * 501,
        ]
    )
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_ODD_TEXT, inner, max_size=3),
    max_leaves=6,
)
_TOP_KEYS = [*_base(), "extra", "schema", ""]
_NESTED_KEYS = ["name", "email", "phone", "company", "messenger_ids", "ip", "user_agent"]
_NESTED_KEYS += ["team", "form", "connector", "referrer", "utm_source", "of_inquiry", "by_user"]


@st.composite
def _hostile_documents(draw: st.DrawFn) -> bytes:
    document = _base()
    for _ in range(draw(st.integers(0, 4))):
        key = draw(st.sampled_from(_TOP_KEYS))
        action = draw(st.sampled_from(["set", "drop", "nested"]))
        if action == "drop":
            document.pop(key, None)
        elif action == "set":
            document[key] = draw(_JSON)
        elif isinstance(document.get(key), dict):
            document[key][draw(st.sampled_from(_NESTED_KEYS))] = draw(_JSON)
    text = json.dumps(document, ensure_ascii=draw(st.booleans()))
    if draw(st.booleans()):
        # A key written twice: which one counts is the parser's choice, the same in both.
        key = draw(st.sampled_from(["key", "channel", "sender", "id", "received_at"]))
        text = "{" + json.dumps(key) + ": " + json.dumps(draw(_JSON)) + ", " + text[1:]
    return text.encode("utf-8", "surrogatepass")


def test_the_fast_path_is_in_use() -> None:
    """pydantic still builds the model as `from_kafka` expects (else every record would
    take the usual, slower way, with the same answers)."""
    assert inquiry_module._keyed_fields() is not None


@settings(max_examples=400, deadline=None)
@given(raw=_hostile_documents())
def test_from_kafka_answers_as_model_validate_json(raw: bytes) -> None:
    _assert_same(raw)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(make_inquiry().to_kafka()[1], id="ours"),
        pytest.param(json.dumps({**_base(), "key": ""}).encode(), id="empty-key-derived"),
        pytest.param(json.dumps({**_base(), "key": "\x00"}).encode(), id="key-cleaned-away"),
        pytest.param(json.dumps({**_base(), "key": "  "}).encode(), id="blank-key-kept"),
        pytest.param(json.dumps({**_base(), "key": 5}).encode(), id="number-key"),
        pytest.param(
            json.dumps({k: v for k, v in _base().items() if k != "key"}).encode(), id="no-key"
        ),
        pytest.param(
            json.dumps({k: v for k, v in _base().items() if k != "id"}).encode(), id="no-id"
        ),
        pytest.param(json.dumps({**_base(), "schema_version": 1.0}).encode(), id="version-1.0"),
        pytest.param(json.dumps({**_base(), "schema_version": True}).encode(), id="version-true"),
        pytest.param(json.dumps({**_base(), "honeypot": "yes"}).encode(), id="honeypot-yes"),
        pytest.param(json.dumps({**_base(), "received_at": 1.7e9}).encode(), id="epoch"),
        pytest.param(json.dumps({**_base(), "extra": 1}).encode(), id="unknown-key"),
        pytest.param(b"", id="empty"),
        pytest.param(b"[]", id="list"),
        pytest.param(b'"text"', id="string"),
        pytest.param(b"null", id="null"),
        pytest.param(b"{", id="truncated"),
        pytest.param(b"\xff\xfe", id="not-utf-8"),
        pytest.param(b"[" * 300 + b"]" * 300, id="too-deep"),
    ],
)
def test_from_kafka_answers_as_model_validate_json_on_these(raw: bytes) -> None:
    _assert_same(raw)


def test_a_record_without_a_key_still_gets_the_derived_one() -> None:
    document = {k: v for k, v in _base().items() if k != "key"}
    inquiry = Inquiry.from_kafka(json.dumps(document).encode())
    assert inquiry.key == make_inquiry(sender=Sender(**document["sender"])).key


# --- valid_ip ----------------------------------------------------------------------


def _valid_ip_before(value: object) -> str | None:
    """`valid_ip` before its IPv4 regex: every address through `ipaddress`."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > IP_MAX:
        return None
    try:
        address = ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


_OCTETS = [str(n) for n in (*range(0, 40), 99, 100, 101, 199, 200, 249, 250, 254, 255)]
_OCTETS += ["256", "260", "300", "999", "00", "01", "007", "0255", "1000", "", " 1", "1 "]
# Other scripts' digits: Arabic-Indic one and three, a fullwidth one, a superscript two.
_OCTETS += ["+1", "-1", "1e1", "0x1", "\u0661", "\u0663\u0663", "\uff11", "\u00b2", "a", "1_0"]


def test_valid_ip_answers_as_ipaddress_on_written_quads() -> None:
    rng = random.Random(11)
    quads = [".".join(rng.choice(_OCTETS) for _ in range(4)) for _ in range(30_000)]
    quads += [
        f"{a}.{b}.{c}.{d}" for a in _OCTETS for b in ("0", "01") for c in ("9",) for d in _OCTETS
    ]
    quads += ["1.2.3", "1.2.3.4.5", "1.2.3.4.", ".1.2.3.4", "1..2.3", "1.2.3.4\n", "\t1.2.3.4 "]
    quads += ["1.2.3.4\x00", "1.2.3.4/8", "1.2.3.4:80", "1,2,3,4", "1.2.3.4\u2028", "\u00a01.2.3.4"]
    for raw in quads:
        assert valid_ip(raw) == _valid_ip_before(raw), repr(raw)


@settings(max_examples=2_000, deadline=None)
@given(raw=st.text(st.sampled_from("0123456789.:abcdefABCDEF% \t\n/\u0661"), max_size=48) | _JSON)
def test_valid_ip_answers_as_ipaddress(raw: Any) -> None:
    assert valid_ip(raw) == _valid_ip_before(raw)


def test_valid_ip_answers_as_ipaddress_on_other_forms() -> None:
    for raw in ("::1", "::ffff:10.0.0.1", "::FFFF:A00:1", "fe80::1%eth0", "2001:db8::", "x" * 65):
        assert valid_ip(raw) == _valid_ip_before(raw), raw


# --- renormalized ------------------------------------------------------------------


def _renormalized_before(inquiry: Inquiry, default_region: str) -> Inquiry:
    """`renormalized` before it returned an already-normal inquiry without a copy."""
    sender = inquiry.sender
    updates: dict[str, Any] = {}
    fields = dict(inquiry.fields)
    if sender.email:
        try:
            updates["email"] = normalize_email(sender.email)
        except InvalidIdentity:
            updates["email"] = None
            fields["_invalid_email"] = sender.email
    if sender.phone:
        try:
            phone = _read_phone(sender.phone, default_region)
        except InvalidIdentity:
            updates["phone"] = None
            fields["_invalid_phone"] = sender.phone
        else:
            updates["phone"] = phone.phone
            fields = phone.fields() | fields
    if updates == {"email": sender.email, "phone": sender.phone} or not updates:
        return inquiry
    return inquiry.model_copy(
        update={"sender": sender.model_copy(update=updates), "fields": fields}
    )


_EMAILS = [None, "", "ivan@example.com", "Ivan@Example.com", " ivan@example.com", "ivan@"]
_EMAILS += ["ivan@localhost", "иван@пример.рф", "a..b@example.com", "ivan@xn--e1afmkfd.xn--p1ai"]
_PHONES = [None, "", "+79123456789", "+7 912 345-67-89", "89123456789", "+7912345678"]
_PHONES += ["+79123456789 доб. 12", "звонить вечером", "+442079460958", "+4420794609580"]
_PHONES += ["+12025550143", "+70123456789", "+7 (912) 345-67-89, после обеда", "+380441234567"]
_FIELDS: list[dict[str, str]] = [{}, {"phone_ext": "99"}, {"_invalid_email": "x", "city": "Тверь"}]


@pytest.mark.parametrize("region", ["RU", "GB", "US"])
def test_renormalized_answers_as_before(region: str) -> None:
    for email in _EMAILS:
        for phone in _PHONES:
            for fields in _FIELDS:
                inquiry = make_inquiry(sender=Sender(email=email, phone=phone), fields=fields)
                now = renormalized(inquiry, region)
                before = _renormalized_before(inquiry, region)
                assert now == before, (email, phone, fields)
                assert now.model_dump_json() == before.model_dump_json()


def test_an_already_normal_inquiry_is_returned_as_it_is() -> None:
    for sender in (Sender(email="ivan@example.com"), Sender(phone="+79123456789"), Sender()):
        inquiry = make_inquiry(sender=sender)
        assert renormalized(inquiry, "RU") is inquiry


# --- spam's "a valid phone to call back" ---------------------------------------------


def _valid_phone_before(phone: str | None) -> bool:
    """`spam._valid_phone` before it asked `is_canonical_phone` first."""
    if not phone:
        return False
    try:
        normalize_phone.__wrapped__(phone)
    except InvalidIdentity:
        return False
    return True


def _phones_to_judge() -> list[str | None]:
    phones: list[str | None] = [None, "", *(p for p in _PHONES if p)]
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        example = phonenumbers.example_number(region)
        if example is not None:
            for form in (PhoneNumberFormat.E164, PhoneNumberFormat.NATIONAL):
                phones.append(phonenumbers.format_number(example, form))
    rng = random.Random(7)
    codes = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
    for _ in range(3_000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(4, 15)))
        phones.append(f"+{rng.choice(codes)}{digits}"[: rng.randint(2, 18)])
        phones.append(rng.choice(["8", "7", "0", ""]) + digits)
        phones.append(f"+79{rng.randrange(10**9):09d}")  # most of our users' numbers
    return phones


def test_spam_valid_phone_answers_as_normalize_phone() -> None:
    valid = 0
    for phone in _phones_to_judge():
        answer = spam._valid_phone(phone)
        assert answer == _valid_phone_before(phone), phone
        valid += answer
    assert valid > 2_000, "the sweep judges real numbers, not only invalid ones"
