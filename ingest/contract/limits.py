"""Every text limit of the `Inquiry` contract, defined once, and the text types that apply them.

Two kinds of limit, and what happens past each:

- A *customer* value (name, email, phone, company, subject, message, extra form
  fields) or an *identity* (idempotency key, partition key, channel and messenger
  ids) is refused past its limit: the edge answers 422 naming the field, and an
  Inquiry written by another producer fails validation (the consumer dead-letters it).
- *Metadata* (Referer, landing page, User-Agent, `utm_*`, the not-a-lead reason) is
  cut to its limit: it only informs scoring and reports, and a long tracking URL is
  no reason to lose a customer.

Every text type strips NUL and the other C0 control characters (tab, newline and
carriage return are kept) and lone UTF-16 surrogates, which PostgreSQL and UTF-8
refuse: any producer's JSON is cleaned when the consumer decodes it, not only ours.

The store agrees with these numbers, chosen this way: `crm_store` imports nothing of
ours and this package imports nothing but itself, so the store cannot name these
constants. Where a bound adds nothing and a column is fed from more than one
place, the column is unbounded `Text` (migration 0007): company names and domains
(from an inquiry, from an email domain, or typed into the console), outbound
recipients (an address or a channel's chat id) and linked Telegram chat ids. In
PostgreSQL `varchar(n)` and `text` are stored alike and SQLite ignores `n`, so a
length there only turned an overlong value into a crash of the consumer. The
other columns fed from an inquiry keep their lengths (keys and indexed values:
idempotency key, partition key, email, phone, client IP, identities, message ids;
and names, titles and subjects that the pipeline cuts), and
`tests/unit/test_limits.py` pins each of them to the constants here, so changing
one without the other fails the build.

Imports nothing of ours.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from ipaddress import ip_address
from typing import Annotated

from pydantic import BeforeValidator, StringConstraints

# Customer fields: refused past the limit.
NAME_MAX = 500
EMAIL_MAX = 320  # RFC 5321: 64 for the local part, @, 255 for the domain
PHONE_MAX = 32  # E.164 needs 16; room for a number as another producer wrote it
COMPANY_MAX = 300
SUBJECT_MAX = 500
MESSAGE_MAX = 100_000
FIELD_NAME_MAX = 100
FIELD_VALUE_MAX = 10_000
FIELDS_MAX = 100  # extra form fields per inquiry

# Metadata: cut to the limit.
URL_MAX = 2_000  # Referer, landing page
USER_AGENT_MAX = 500
UTM_MAX = 500
NOT_A_LEAD_MAX = 500
IP_MAX = 64  # the longest IPv6 text with a zone is 45 + the zone; never a hostname

# Identities: refused past the limit.
IDEMPOTENCY_KEY_MAX = 300
SUBMISSION_ID_MAX = 128  # a form's Idempotency-Key header or `_submission_id` field
PARTITION_KEY_MAX = 64
CHANNEL_ID_NAME_MAX = 64
CHANNEL_ID_MAX = 500  # a Message-ID, a References chain cut to fit, a chat id ...
CHANNEL_IDS_MAX = 32
MESSENGER_KIND_MAX = 32
MESSENGER_ID_MAX = 128
MESSENGER_IDS_MAX = 8
ROUTING_NAME_MAX = 200  # team, form and connector names

# NUL and the C0 controls but \t \n \r, and lone surrogates (never valid in UTF-8).
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def clean_text(value: str) -> str:
    """The text without NUL, other C0 controls (but tab, LF, CR) and lone surrogates."""
    if value.isprintable():  # the common case, checked in C: no control, no surrogate
        return value
    return _UNSAFE.sub("", value)


def _clean(value: object) -> object:
    # Anything that is not a string is left for pydantic to refuse.
    return clean_text(value) if isinstance(value, str) else value


def _cutter(limit: int) -> Callable[[object], object]:
    def cut(value: object) -> object:
        if not isinstance(value, str):
            return value
        return clean_text(value).strip()[:limit]

    return cut


def valid_ip(value: object) -> str | None:
    """The address in its canonical text when `value` is an IP address, else None.

    An IPv4-mapped IPv6 address is written as the IPv4 address it maps.

    The client IP is metadata from an untrusted header chain: a bad one is dropped,
    never stored, and never costs the inquiry.
    """
    return _valid_ip(value) if isinstance(value, str) else None


# An IPv4 address as `ipaddress` writes it: four decimal octets up to 255, no leading
# zero (which `ipaddress` refuses), ASCII digits only.
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


@functools.lru_cache(maxsize=16_384)  # parsing costs µs, and clients come back
def _valid_ip(value: str) -> str | None:
    text = value.strip()
    if _CANONICAL_IPV4.fullmatch(text):
        # What every edge sends, already canonical: a regex costs a tenth of
        # `ip_address` (issue 11); `tests/unit/test_limits.py` compares the two.
        return text
    if not text or len(text) > IP_MAX:
        return None
    try:
        address = ip_address(text)
    except ValueError:
        return None
    # One client, one spelling: rate and spam counts group by this text.
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


Name = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=NAME_MAX), BeforeValidator(_clean)
]
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=EMAIL_MAX), BeforeValidator(_clean)
]
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=PHONE_MAX), BeforeValidator(_clean)
]
Company = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=COMPANY_MAX), BeforeValidator(_clean)
]
Subject = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=SUBJECT_MAX), BeforeValidator(_clean)
]
Message = Annotated[str, StringConstraints(max_length=MESSAGE_MAX), BeforeValidator(_clean)]
FieldName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=FIELD_NAME_MAX),
    BeforeValidator(_clean),
]
FieldValue = Annotated[str, StringConstraints(max_length=FIELD_VALUE_MAX), BeforeValidator(_clean)]
IdempotencyKey = Annotated[
    str,
    StringConstraints(min_length=1, max_length=IDEMPOTENCY_KEY_MAX),  # opaque: not stripped
    BeforeValidator(_clean),
]
PartitionKey = Annotated[
    str, StringConstraints(min_length=1, max_length=PARTITION_KEY_MAX), BeforeValidator(_clean)
]
ChannelIdName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=CHANNEL_ID_NAME_MAX),
    BeforeValidator(_clean),
]
ChannelId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=CHANNEL_ID_MAX),
    BeforeValidator(_clean),
]
MessengerKind = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=MESSENGER_KIND_MAX),
    BeforeValidator(_clean),
]
MessengerId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=MESSENGER_ID_MAX),
    BeforeValidator(_clean),
]
RoutingName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=ROUTING_NAME_MAX),
    BeforeValidator(_clean),
]
Url = Annotated[str, StringConstraints(max_length=URL_MAX), BeforeValidator(_cutter(URL_MAX))]
UserAgent = Annotated[
    str, StringConstraints(max_length=USER_AGENT_MAX), BeforeValidator(_cutter(USER_AGENT_MAX))
]
Utm = Annotated[str, StringConstraints(max_length=UTM_MAX), BeforeValidator(_cutter(UTM_MAX))]
NotALeadReason = Annotated[
    str, StringConstraints(max_length=NOT_A_LEAD_MAX), BeforeValidator(_cutter(NOT_A_LEAD_MAX))
]
ClientIp = Annotated[str | None, BeforeValidator(valid_ip)]
