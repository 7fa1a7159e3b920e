"""The email channel's pure core: one raw RFC 5322 message in, a lead or a filter verdict out.

`parse_email` reads the bytes an IMAP fetch returns and gives a `ParsedEmail` (the
`Inquiry` plus the full body text, attachments and threading ids) or a
`FilteredMessage` saying why it is not a lead: an auto-reply, a bounce, list mail, no
sender, or bytes that are not a message. `classify_headers` is that verdict on its
own. Mail from the wild is malformed in every way, so nothing here raises on bad input:
charsets fall back, broken MIME is salvaged, and a failure becomes `unparseable`. No
I/O and no clock (the caller passes `received_at`); imports only `ingest.contract` of
ours, with HTML and quote handling in `email_html` and `email_body`.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses

from ingest.contract import (
    Channel,
    Inquiry,
    InvalidIdentity,
    Routing,
    Sender,
    limits,
    normalize_email,
)

from .email_body import is_forward_subject, split_body, unflow
from .email_html import html_to_text
from .email_phone import find_email_phone

_MAX_DEPTH = 20  # MIME nesting deeper than this is an attack or a loop, not a client.
_TEXT_LIMIT = limits.MESSAGE_MAX
_FULL_TEXT_LIMIT = 1_000_000
_SHORT_LIMIT = min(limits.SUBJECT_MAX, limits.CHANNEL_ID_MAX)  # subject, channel ids
_NAME_LIMIT = 200
_FIELD_LIMIT = limits.FIELD_VALUE_MAX
_KEY_LIMIT = limits.IDEMPOTENCY_KEY_MAX
_FALLBACK_CHARSETS = ("utf-8", "cp1251")
_MOSTLY_UTF8 = 4  # Valid non-ASCII characters needed per broken one.
_FORWARD_MARKER = "---------- Forwarded message ---------"

_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")
_MSG_ID = re.compile(r"<([^<>\s]+)>")
_LOOSE_ADDRESS = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
_BOUNDARY_LINE = re.compile(rb"(?m)^--[^\s]{1,200}[ \t]*\r?$")
_ROBOT = re.compile(
    r"^(?:no-?reply|do-?not-?reply|donotreply|mailer-daemon|postmaster|bounces?|"
    r"notifications?|robot|autoreply)(?:[+._-].*)?$",
    re.IGNORECASE,
)
_DAEMON = re.compile(r"^(?:mailer-daemon|postmaster)$", re.IGNORECASE)
_AUTO_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder", "x-autoreply-from",
                 "x-mail-autoreply", "x-vacation")  # fmt: skip
_AUTO_PHRASES = (
    r"(?:out of (?:the )?office|automatic reply|auto[- ]?reply|autoreply|auto[- ]?response|"
    r"автоответ|автоматический ответ|нет на месте|я в отпуске|в отпуске|вне офиса|отсутствую)"
)
# Anchored and followed by a colon, a bracket, a date word or nothing: "Out of office
# hours support" is a customer's subject, "Out of office: Re: ..." is a robot's.
_AUTO_SUBJECT_END = r"(?:\s*[:(\[!.\-\u2013\u2014]|\s*$|\s+(?:до|по|until|till|from)\b)"
_AUTO_SUBJECT = re.compile(
    rf"^\s*(?:\[[^\]]*\]\s*)?{_AUTO_PHRASES}{_AUTO_SUBJECT_END}", re.IGNORECASE
)
_AUTO_SUBJECT_ANYWHERE = re.compile(_AUTO_PHRASES, re.IGNORECASE)
_SUPPRESS_TOKENS = frozenset({"oof", "all", "autoreply"})


@dataclass(frozen=True, slots=True)
class FilteredMessage:
    """Not a lead. `reason` is a metric label from a closed set: "auto_reply", "bounce",
    "bulk", "no_sender", "unparseable"; `detail` is a sentence for the log."""

    reason: str
    detail: str
    message_id: str | None
    sender: str | None
    # What the message says, parsed as if it were a lead: kept on the record so that
    # a person who reviews it can make it a lead with its words (see `connectors.imap`).
    read_as_lead: Inquiry | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    """A lead: the `Inquiry` to publish and what the record keeps beside it.

    Message ids are bare, without angle brackets, in every field.
    """

    inquiry: Inquiry
    full_text: str
    attachments: tuple[Attachment, ...]
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Address:
    name: str | None
    email: str | None


@dataclass(slots=True)
class _Body:
    texts: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)


def parse_email(
    raw: bytes,
    *,
    mailbox: str,
    received_at: datetime,
    team: str | None = None,
    default_region: str = "RU",
    max_attachment_bytes: int = 5_000_000,
    classify: bool = True,
) -> ParsedEmail | FilteredMessage:
    """Parse one message; malformed input gives a verdict or a best effort, never an error.

    Parts larger than `max_attachment_bytes` are listed as attachments with their size
    computed from the encoded length, and are never decoded, not even as body text.
    `classify=False` reads an auto-reply, bounce or list mail as if it were a lead.
    Raises `ValueError` only for a naive `received_at`, which is the caller's bug.
    """
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    try:
        return _parse(
            raw, mailbox, received_at, team, default_region, max_attachment_bytes, classify
        )
    except Exception as exc:  # Untrusted bytes must never crash the connector.
        return FilteredMessage("unparseable", f"{type(exc).__name__}: {exc}"[:300], None, None)


def _parse(
    raw: bytes,
    mailbox: str,
    received_at: datetime,
    team: str | None,
    region: str,
    limit: int,
    classify: bool = True,
) -> ParsedEmail | FilteredMessage:
    if not raw.strip():
        return FilteredMessage("unparseable", "The message is empty.", None, None)
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    if not msg.keys():
        return FilteredMessage("unparseable", "No header block was found.", None, None)
    message_id = message_id_of(msg)
    if not _raw_values(msg, "from"):
        return FilteredMessage("no_sender", "The message has no From header.", message_id, None)
    verdict = classify_headers(msg) if classify else None
    if verdict is not None:
        return verdict
    author, answer_to = _author(msg), _answer_to(msg, mailbox)
    email = (answer_to or author).email or _fallback_sender(msg)
    if email is None:
        return FilteredMessage("no_sender", "No From address could be read.", message_id, None)

    subject = _clean(header_text(msg, "subject"), _SHORT_LIMIT)
    body = _Body()
    _collect(msg, body, 0, limit)
    full_text = "\n\n".join(t for t in body.texts if t.strip())[:_FULL_TEXT_LIMIT]
    split = split_body(full_text, is_forward=is_forward_subject(subject))
    in_reply_to = _first_id(header_text(msg, "in-reply-to"))
    references = tuple(_MSG_ID.findall(header_text(msg, "references") or ""))
    phone = find_email_phone(split, sender_email=email, default_region=region)
    inquiry = Inquiry(
        idempotency_key=_idempotency_key(mailbox, message_id, raw),
        channel=Channel.EMAIL,
        received_at=received_at,
        sender=Sender(
            name=_sender_name(author, answer_to),
            email=email,
            phone=phone.phone,
        ),
        subject=subject,
        # When stripping leaves nothing (a bare forward or reply), show what arrived.
        text=(split.text or full_text.strip())[:_TEXT_LIMIT] or None,
        routing=Routing(team=team, connector=mailbox),
        channel_ids=_channel_ids(mailbox, message_id, in_reply_to, references),
        fields={**_fields(body.attachments, author, email), **phone.fields},
    )
    return ParsedEmail(
        inquiry=inquiry,
        full_text=full_text,
        attachments=tuple(body.attachments),
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
    )


# --- Is it a lead at all ---------------------------------------------------------------


def classify_headers(msg: Message) -> FilteredMessage | None:
    """Why this message is not a lead (bounce, auto-reply, list mail), or None.

    Bounces first, because a bounce also carries auto-reply markers; a null
    Return-Path counts as a bounce only when no auto-reply marker explains it.
    """
    verdict = _bounce(msg) or _auto_reply(msg) or _null_return_path(msg) or _bulk(msg)
    if verdict is None:
        return None
    reason, detail = verdict
    first = next(iter(_addresses(msg, "from")), None)
    return FilteredMessage(reason, detail, message_id_of(msg), first.email if first else None)


def _bounce(msg: Message) -> tuple[str, str] | None:
    if msg.get_content_type() == "multipart/report":
        report = str(msg.get_param("report-type") or "").lower()
        if report == "disposition-notification":
            return "auto_reply", "A read receipt (multipart/report; disposition-notification)."
        return "bounce", f"A delivery report (multipart/report; report-type={report or '?'})."
    for part in _iter_parts(msg, 0):
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            return "bounce", f"It carries a {part.get_content_type()} part."
    for address in _addresses(msg, "from"):
        if address.email and _DAEMON.match(address.email.split("@", 1)[0]):
            return "bounce", f"From: {address.email}"
    if _raw_values(msg, "x-failed-recipients"):
        return "bounce", f"X-Failed-Recipients: {header_text(msg, 'x-failed-recipients')}"
    return None


def _auto_reply(msg: Message) -> tuple[str, str] | None:
    submitted = (header_text(msg, "auto-submitted") or "").split(";", 1)[0].strip().lower()
    if submitted and submitted != "no":
        return "auto_reply", f"Auto-Submitted: {submitted}"
    for name in _AUTO_HEADERS:
        value = header_text(msg, name)
        if value is not None and value.strip().lower() not in ("no", "false", "0"):
            return "auto_reply", f"{name}: {value.strip()}"
    for name in ("precedence", "x-precedence"):
        if (header_text(msg, name) or "").strip().lower() == "auto_reply":
            return "auto_reply", f"{name}: auto_reply"
    if (header_text(msg, "x-autogenerated") or "").strip().lower() == "reply":
        return "auto_reply", "X-Autogenerated: Reply"
    subject = header_text(msg, "subject") or ""
    if _AUTO_SUBJECT.match(subject):
        return "auto_reply", f"Subject: {subject.strip()[:200]}"
    return _suppressed_auto_reply(msg, subject)


def _suppressed_auto_reply(msg: Message, subject: str) -> tuple[str, str] | None:
    """Outlook sets X-Auto-Response-Suppress on ordinary mail too, so it only counts
    together with a second, weaker sign: a vacation phrase or a null Return-Path."""
    suppress = header_text(msg, "x-auto-response-suppress") or ""
    tokens = {token.strip().lower() for token in suppress.split(",")}
    if not tokens & _SUPPRESS_TOKENS:
        return None
    if _AUTO_SUBJECT_ANYWHERE.search(subject):
        return "auto_reply", f"X-Auto-Response-Suppress: {suppress} and Subject: {subject[:200]}"
    if _has_null_return_path(msg):
        return "auto_reply", f"X-Auto-Response-Suppress: {suppress} and Return-Path: <>"
    return None


def _null_return_path(msg: Message) -> tuple[str, str] | None:
    if _has_null_return_path(msg):
        return "bounce", "Return-Path: <> (the null sender of delivery reports)."
    return None


def _has_null_return_path(msg: Message) -> bool:
    return any(value.strip() == "<>" for value in _raw_values(msg, "return-path"))


def _bulk(msg: Message) -> tuple[str, str] | None:
    precedence = (header_text(msg, "precedence") or "").strip().lower()
    if precedence in ("bulk", "junk", "list"):
        return "bulk", f"Precedence: {precedence}"
    for name in ("list-id", "list-unsubscribe"):
        value = header_text(msg, name)
        if value is not None:
            return "bulk", f"{name}: {value.strip()[:200]}"
    return None


# --- Headers -----------------------------------------------------------------------


def header_text(msg: Message, name: str) -> str | None:
    """The first `name` header, unfolded, 8-bit bytes and RFC 2047 words decoded."""
    values = _raw_values(msg, name)
    return decode_header_value(values[0]) if values else None


def decode_header_value(raw: str) -> str:
    """Decode a raw header: 8-bit bytes as UTF-8 else cp1251, then encoded words."""
    return _decode_encoded_words(_eight_bit(_unfold(raw)))


def message_id_of(msg: Message) -> str | None:
    return _first_id(header_text(msg, "message-id"))


def _raw_values(msg: Message, name: str) -> list[str]:
    # The raw stored values: policy.default's parsed header objects would decode
    # encoded words with unknown charsets lossily and can raise on odd input.
    return [str(value) for key, value in msg.raw_items() if key.lower() == name]


def _unfold(value: str) -> str:
    return re.sub(r"\r?\n(?=[ \t])", "", value).replace("\r", "").replace("\n", "").strip()


def _eight_bit(value: str) -> str:
    """The parser keeps raw 8-bit header bytes as surrogate escapes; decode them."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    return decode_bytes(value.encode("utf-8", "surrogateescape"), None)


def _decode_encoded_words(value: str) -> str:
    """RFC 2047 words; adjacent words of one charset are joined before decoding,
    because clients split a UTF-8 character across two words."""
    out: list[str] = []
    pending: tuple[str, bytearray] | None = None
    position = 0
    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        charset, data = match.group(1).lower(), _word_bytes(match.group(2), match.group(3))
        if data is None:
            continue  # Leave an undecodable word as written: it stays in `between`.
        if pending is not None and not between.strip() and pending[0] == charset:
            pending[1].extend(data)
        else:
            if pending is not None:
                out.append(decode_bytes(bytes(pending[1]), pending[0]))
                if between.strip():
                    out.append(between)
            else:
                out.append(between)
            pending = (charset, bytearray(data))
        position = match.end()
    if pending is not None:
        out.append(decode_bytes(bytes(pending[1]), pending[0]))
    out.append(value[position:])
    return "".join(out)


def _word_bytes(encoding: str, text: str) -> bytes | None:
    data = text.encode("ascii", "replace")
    try:
        if encoding in "bB":
            data = data.rstrip(b"=")
            return base64.b64decode(data + b"=" * (-len(data) % 4), validate=True)
        return binascii.a2b_qp(data, header=True)
    except (binascii.Error, ValueError):
        return None


def decode_bytes(data: bytes, declared: str | None) -> str:
    """Text of `data`: the declared charset, then UTF-8, then cp1251, then Latin-1.

    UTF-8 with a few broken bytes (a truncated or damaged part) stays UTF-8 with
    replacement characters, rather than turning into cp1251 mojibake as a whole.
    """
    for charset in (declared, *_FALLBACK_CHARSETS):
        if charset and _is_text_codec(charset):
            try:
                return data.decode(charset)
            except (UnicodeDecodeError, LookupError):
                pass
        if charset == "utf-8" and (lenient := _mostly_utf8(data)) is not None:
            return lenient
    return data.decode("latin-1", "replace")


def _mostly_utf8(data: bytes) -> str | None:
    """UTF-8 with replacements, when valid multi-byte characters far outnumber broken ones.

    cp1251 or KOI8-R text almost never forms valid UTF-8 sequences, so it fails here.
    """
    text = data.decode("utf-8", "replace")
    broken = text.count("\ufffd")
    valid = sum(1 for ch in text if ch > "\x7f") - broken
    return text if valid >= _MOSTLY_UTF8 * broken else None


def _is_text_codec(charset: str) -> bool:
    # A sender controls the name: refuse base64/zlib/rot13 and the escape codecs.
    try:
        info = codecs.lookup(charset.strip().strip("\"'"))
    except (LookupError, ValueError):
        return False
    name = info.name
    return bool(getattr(info, "_is_text_encoding", True)) and not (
        "escape" in name or name in ("punycode", "idna", "undefined")
    )


def _first_id(value: str | None) -> str | None:
    if not value:
        return None
    found = _MSG_ID.search(value)
    if found:
        return found.group(1)
    tokens = value.strip().strip("<>").split()
    return tokens[0] if tokens else None


def _addresses(msg: Message, name: str) -> list[_Address]:
    found: list[_Address] = []
    for raw in _raw_values(msg, name):
        text = _eight_bit(_unfold(raw))
        pairs = getaddresses([text]) or [("", "")]
        for display, address in pairs:
            email = _normalized(address) or _normalized_loose(text if len(pairs) == 1 else "")
            found.append(_Address(_display_name(display, email), email))
    return found


def _normalized(address: str) -> str | None:
    if "@" not in address:
        return None
    try:
        return normalize_email(address)
    except InvalidIdentity:
        return None


def _normalized_loose(text: str) -> str | None:
    match = _LOOSE_ADDRESS.search(text)
    return _normalized(match.group(0)) if match else None


def _display_name(display: str, email: str | None) -> str | None:
    name = _decode_encoded_words(display).strip().strip("\"'").strip()
    name = re.sub(r"\s+", " ", name)
    if not name or (email and name.lower() == email):
        return None
    return name[:_NAME_LIMIT]


# --- Who wrote ------------------------------------------------------------------------


def _author(msg: Message) -> _Address:
    addresses = _addresses(msg, "from")
    return next(
        (a for a in addresses if a.email), addresses[0] if addresses else _Address(None, None)
    )


def _answer_to(msg: Message, mailbox: str) -> _Address | None:
    """A Reply-To address of a person: not a robot, not our own mailbox."""
    for address in _addresses(msg, "reply-to"):
        if address.email and address.email != mailbox.lower() and not _is_robot(address.email):
            return address
    return None


def _fallback_sender(msg: Message) -> str | None:
    """From without an address: a person's Sender header is the next best answer."""
    for address in _addresses(msg, "sender"):
        if address.email and not _is_robot(address.email):
            return address.email
    return None


def _sender_name(author: _Address, answer_to: _Address | None) -> str | None:
    """From names the author; a form robot's From ("Site forms") yields to Reply-To's name."""
    robot = author.email is None or _is_robot(author.email)
    if answer_to is not None and answer_to.name and (robot or not author.name):
        return answer_to.name
    return author.name


def _is_robot(email: str) -> bool:
    return bool(_ROBOT.match(email.split("@", 1)[0]))


# --- Body -----------------------------------------------------------------------------


def _collect(part: Message, body: _Body, depth: int, limit: int) -> None:
    """Gather body text and attachments; one bad part is skipped, not fatal."""
    if depth > _MAX_DEPTH:
        return
    try:
        _collect_part(part, body, depth, limit)
    except (LookupError, ValueError, TypeError, AttributeError, IndexError):
        return


def _collect_part(part: Message, body: _Body, depth: int, limit: int) -> None:
    ctype = part.get_content_type()
    if ctype == "message/rfc822":
        _collect_forwarded(part, body, depth, limit)
    elif part.is_multipart():
        children = [c for c in part.get_payload() if isinstance(c, Message)]
        if ctype == "multipart/alternative":
            children = _pick_alternative(children, limit)
        for child in children:
            _collect(child, body, depth + 1, limit)
    elif ctype.startswith("multipart/"):
        _salvage_multipart(part, body, depth, limit)
    elif _is_body_text(part, limit):
        body.texts.append(_part_text(part))
    else:
        body.attachments.append(_attachment(part, limit))


def _pick_alternative(children: Sequence[Message], limit: int) -> list[Message]:
    """The one alternative to read: text/plain when it has content, else HTML, else the
    richest (last) multipart; the others are the same content in another form."""
    for wanted in ("text/plain", "text/html"):
        for child in children:
            is_candidate = child.get_content_type() == wanted and _is_body_text(child, limit)
            if is_candidate and _part_text(child).strip():
                return [child]
    nested = [child for child in children if child.is_multipart()]
    return nested[-1:] or list(children[-1:])


def _collect_forwarded(part: Message, body: _Body, depth: int, limit: int) -> None:
    """A message/rfc822 part is a forward: its text is rendered like Gmail's inline one."""
    for inner in part.get_payload():
        if not isinstance(inner, Message):
            continue
        nested = _Body()
        _collect(inner, nested, depth + 1, limit)
        header_lines = [
            f"{label}: {value}"
            for label, key in (
                ("From", "from"),
                ("Date", "date"),
                ("Subject", "subject"),
                ("To", "to"),
            )
            if (value := header_text(inner, key))
        ]
        text = "\n\n".join(t for t in nested.texts if t.strip())
        body.texts.append("\n".join([_FORWARD_MARKER, *header_lines, "", text]).strip())
        body.attachments.extend(nested.attachments)


def _salvage_multipart(part: Message, body: _Body, depth: int, limit: int) -> None:
    """A multipart whose boundary never matched: split on anything boundary-like and
    parse the pieces that start with MIME headers; else keep the raw text."""
    data = _decoded_bytes(part)
    parser = BytesParser(policy=policy.default)
    pieces: list[Message] = [
        parser.parsebytes(chunk.lstrip(b"\r\n"))
        for chunk in _BOUNDARY_LINE.split(data)
        if re.match(rb"(?i)content-", chunk.lstrip(b"\r\n"))
    ]
    if not pieces:
        body.texts.append(decode_bytes(data, part.get_content_charset()).strip())
        return
    if part.get_content_type() == "multipart/alternative":
        pieces = _pick_alternative(pieces, limit)
    for piece in pieces:
        _collect(piece, body, depth + 1, limit)


def _is_body_text(part: Message, limit: int) -> bool:
    return (
        part.get_content_type() in ("text/plain", "text/html")
        and part.get_content_disposition() != "attachment"
        and part.get_filename() is None
        and len(_encoded_bytes(part)) <= limit
    )


def _part_text(part: Message) -> str:
    data = _decoded_bytes(part)
    html = part.get_content_type() == "text/html"
    declared = part.get_content_charset()
    if declared is None and html and (meta := _META_CHARSET.search(data[:4096])):
        declared = meta.group(1).decode("ascii", "replace")
    text = decode_bytes(data, declared)
    if html:
        return html_to_text(text)
    if str(part.get_param("format") or "").lower() == "flowed":
        return unflow(text, delsp=str(part.get_param("delsp") or "").lower() == "yes")
    return text.replace("\r\n", "\n").strip("\n")


def _attachment(part: Message, limit: int) -> Attachment:
    name = part.get_filename()
    filename = decode_header_value(name) if name else ""
    return Attachment(
        filename=filename.strip()[:_SHORT_LIMIT] or "unnamed",
        content_type=part.get_content_type(),
        size=_decoded_size(part, limit),
    )


def _decoded_size(part: Message, limit: int) -> int:
    """The attachment's size without decoding it when it is base64 or too large."""
    encoded = _encoded_bytes(part)
    encoding = _transfer_encoding(part)
    if encoding == "base64":
        padding_and_space = sum(encoded.count(ch) for ch in (b"\r", b"\n", b" ", b"\t", b"="))
        return (len(encoded) - padding_and_space) * 3 // 4
    if encoding == "quoted-printable" and len(encoded) <= limit:
        return len(binascii.a2b_qp(encoded))
    return len(encoded)


def _encoded_bytes(part: Message) -> bytes:
    """The part's payload as transferred (still base64 or quoted-printable)."""
    if _transfer_encoding(part) in ("base64", "quoted-printable"):
        payload = part.get_payload()
        return payload.encode("ascii", "replace") if isinstance(payload, str) else b""
    return _decoded_bytes(part)


def _decoded_bytes(part: Message) -> bytes:
    if _transfer_encoding(part) == "base64":
        return _lenient_base64(_encoded_bytes(part))
    # For 7bit/8bit this restores the raw 8-bit bytes; get_payload() without decode
    # would have replaced them with U+FFFD.
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _lenient_base64(data: bytes) -> bytes:
    """Base64 that survives junk: whole if it can, else line by line, skipping bad lines."""
    try:
        return base64.b64decode(data, validate=False)
    except binascii.Error:
        pass
    out = bytearray()
    for line in data.splitlines():
        clean = re.sub(rb"[^A-Za-z0-9+/]", b"", line)
        try:
            out.extend(base64.b64decode(clean[: len(clean) - len(clean) % 4]))
        except binascii.Error:
            continue
    return bytes(out)


def _transfer_encoding(part: Message) -> str:
    return str(part.get("content-transfer-encoding") or "").strip().lower()


# --- The inquiry ----------------------------------------------------------------------


def _idempotency_key(mailbox: str, message_id: str | None, raw: bytes) -> str:
    identity = message_id or "sha256:" + hashlib.sha256(raw).hexdigest()
    key = f"email:{mailbox}:{identity}"
    if len(key) > _KEY_LIMIT:
        key = "email:sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def _channel_ids(
    mailbox: str, message_id: str | None, in_reply_to: str | None, references: tuple[str, ...]
) -> dict[str, str]:
    ids = {
        "message_id": message_id or "",
        "mailbox": mailbox,
        "in_reply_to": in_reply_to or "",
        "references": _join_references(references),
    }
    return {key: value[:_SHORT_LIMIT] for key, value in ids.items() if value}


def _join_references(references: tuple[str, ...]) -> str:
    """Space-joined; a long thread keeps its root and as many recent ids as fit."""
    joined = " ".join(references)
    if len(joined) <= _SHORT_LIMIT or not references:
        return joined
    kept: list[str] = []
    budget = _SHORT_LIMIT - len(references[0]) - 1
    for reference in reversed(references[1:]):
        if len(reference) + 1 > budget:
            break
        kept.insert(0, reference)
        budget -= len(reference) + 1
    return " ".join([references[0], *kept])[:_SHORT_LIMIT]


def _fields(attachments: list[Attachment], author: _Address, email: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    if attachments:
        fields["attachments"] = "; ".join(
            f"{a.filename} ({a.content_type}, {a.size} bytes)" for a in attachments
        )[:_FIELD_LIMIT]
    if author.email and author.email != email:
        # Answers go to Reply-To; the manager should still see who sent it.
        fields["from_email"] = author.email
    return fields


def _clean(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    return re.sub(r"\s+", " ", value).strip()[:limit] or None


def _iter_parts(part: Message, depth: int) -> list[Message]:
    if depth > _MAX_DEPTH or not part.is_multipart():
        return [part]
    found = [part]
    for child in part.get_payload():
        if isinstance(child, Message):
            found.extend(_iter_parts(child, depth + 1))
    return found
