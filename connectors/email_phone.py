"""The sender's phone in an email: where to look, and in which order.

Half of real inquiries give the phone outside a recognised signature: on the last
line ("Пётр Сергеев | тел. 8-921-100-20-30"), in the body ("Контактный телефон:
..."), or above a forwarded message. `find_email_phone` reads a `BodySplit` in the
order a person would: the signature, then the sender's own text, then the forwarded
message; never the quoted history, which holds our own numbers and the previous
writer's. A forwarded message is usually someone else's (a colleague passes a
customer's request on): its number becomes the sender's phone only when the
forwarded message came from the sender's own address, otherwise it is kept as
`forwarded_phone` for the manager to see. The numbers themselves are found by
`ingest.contract.find_phones`, shared by every channel. No I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest.contract import FoundPhone, first_phone, phone_fields
from ingest.contract.phones import SEARCH_MAX

from .email_body import BodySplit, split_body

FORWARDED_PHONE_FIELD = "forwarded_phone"
_HEADER_LINES = 12  # A forwarded header block is at most this long.

_ADDRESS = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_FROM_HEADER = re.compile(r"^\s*\*?(?:from|от|отправитель)\s*:", re.IGNORECASE)
_FORWARD_HEADER = re.compile(
    r"^\s*\*?(?:from|от|отправитель|date|дата|sent|отправлено|subject|тема|to|кому|cc|копия)"
    r"\s*:",
    re.IGNORECASE,
)
_FORWARD_INTRO = re.compile(
    r"^\s*(?:[-_]{3,}.*|begin forwarded message:?|начало (?:пересылаемого|переадресованного) "
    r"сообщения:?|.*@[^\s]+>?\"?\s*:)\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class EmailPhone:
    """The sender's phone (E.164) if any, and what the inquiry keeps beside it."""

    phone: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


def find_email_phone(
    split: BodySplit, *, sender_email: str | None, default_region: str = "RU"
) -> EmailPhone:
    """The sender's phone: signature first, then their own text, then a forward."""
    for part in (split.signature, _ends(split.new_text)):
        found = first_phone(part, default_region)
        if found is not None:
            return _own(found)
    if not split.forwarded:
        return EmailPhone()
    author, body = _forwarded_body(split.forwarded)
    inner = split_body(body)
    found = first_phone(inner.signature, default_region) or first_phone(
        inner.new_text, default_region
    )
    if found is None:
        return EmailPhone()
    if author is not None and sender_email is not None and author == sender_email.lower():
        return _own(found)
    number = f"{found.e164} ext. {found.extension}" if found.extension else found.e164
    return EmailPhone(fields={FORWARDED_PHONE_FIELD: number})


def _ends(text: str) -> str:
    """A long letter's beginning and end, where people write their number."""
    if len(text) <= SEARCH_MAX:
        return text
    half = SEARCH_MAX // 2 - 1
    return f"{text[:half]}\n{text[-half:]}"


def _own(found: FoundPhone) -> EmailPhone:
    return EmailPhone(phone=found.e164, fields=phone_fields(found.extension, None))


def _forwarded_body(forwarded: str) -> tuple[str | None, str]:
    """The forwarded message's author (lower-case address) and its body below the headers."""
    lines = forwarded.splitlines()
    author: str | None = None
    index = 0
    while index < len(lines) and index < _HEADER_LINES:
        line = lines[index]
        is_header = bool(_FORWARD_HEADER.match(line) or _FORWARD_INTRO.match(line))
        if line.strip() and not is_header:
            break
        # Only a From line or an attribution names the author: To names the forwarder.
        names_author = _FROM_HEADER.match(line) or _FORWARD_INTRO.match(line)
        if author is None and names_author and (address := _ADDRESS.search(line)):
            author = address.group(0).lower()
        index += 1
    return author, "\n".join(lines[index:])
