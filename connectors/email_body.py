"""What is new in an email body: quoted replies and the signature cut away.

`split_body` reads a plain-text body (HTML already converted, quotes as "> " lines)
and returns the sender's new text, their signature, and any forwarded message, which
is kept because for a forward it is the inquiry itself. It knows the reply and forward
styles of Outlook, Gmail, Thunderbird, Apple Mail, Yandex and Mail.ru in English and
Russian (`bench/email_split.py` measures it against quotequail and mail-parser-reply),
and `unflow` joins format=flowed lines. The sender's phone is found in the parts by
`email_phone`. No I/O; imports nothing of ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ATTRIBUTION_SPAN = 3  # Gmail wraps a long "On ... wrote:" line over two or three lines.
_ATTRIBUTION_MAX = 400
_SIGNATURE_MAX_LINES = 12  # A "Best regards," followed by more than this is a letter.
_SIGNATURE_LINE_MAX = 120

_WROTE = re.compile(
    r"(?:\bwrote|\bwrites|пишет|написал(?:а|\(а\))?|написала)\s*:\s*$",  # noqa: RUF001
    re.IGNORECASE,
)
# Gmail (ru), Yandex and Mail.ru say who and when, then end with "<address>:".
_ADDRESS_COLON = re.compile(r"\d.*<[^<>\s@]+@[^<>\s]+>\s*:\s*$")
_ATTRIBUTION_START = re.compile(r"^\s*(?:on\s|\d|\w{2,11},\s*\d)", re.IGNORECASE)
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{2,}\s*(?:original message|исходное сообщение|оригинальное сообщение)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(r"^\s*\*?(?:from|от|отправитель)\s*:\*?\s*\S", re.IGNORECASE)
_HEADER_SENT = re.compile(
    r"^\s*\*?(?:sent|date|отправлено|дата|кому|to|subject|тема)\s*:", re.IGNORECASE
)
_RULE = re.compile(r"^\s*_{10,}\s*$")
_FORWARD_MARKERS = re.compile(
    r"^\s*(?:-{3,}\s*(?:forwarded message|пересылаемое сообщение|"
    r"начало переадресованного сообщения|пересланное сообщение)\s*-{3,}"
    r"|begin forwarded message:|начало пересылаемого сообщения:)\s*$",
    re.IGNORECASE,
)
_FORWARD_SUBJECT = re.compile(r"^\s*(?:\[[^\]]*\]\s*)?(?:fwd?|fw|tr|wg|пересл)\s*:", re.IGNORECASE)
_SIGNATURE_DELIMITER = re.compile(r"^-- ?$")
_MOBILE_FOOTER = re.compile(
    r"^\s*(?:sent from my |sent from mail for |get outlook for |sent from yandex|"
    r"отправлено с (?:iphone|ipad|моего|мобильного)|отправлено из (?:мобильной|яндекс|"  # noqa: RUF001
    r"mail\.ru)|скачайте outlook)",
    re.IGNORECASE,
)
_VALEDICTION = re.compile(
    r"^\s*(?:с уважением|с наилучшими пожеланиями|всего (?:доброго|наилучшего)|"  # noqa: RUF001
    r"best regards|kind regards|warm regards|regards|best wishes|many thanks|cheers|"
    r"sincerely|yours sincerely|yours faithfully)"
    # Alone on the line, or followed by a name of up to four words, as in a Russian "regards, Ivan".
    r"(?:[\s,.!]*|\s*,\s*[\w.\-]+(?:\s+[\w.\-]+){0,3}[\s.]*)$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class BodySplit:
    """A body in three parts; each is stripped text, empty when absent."""

    new_text: str
    signature: str
    forwarded: str

    @property
    def text(self) -> str:
        """The inquiry's text: the new text followed by any forwarded message."""
        return "\n\n".join(part for part in (self.new_text, self.forwarded) if part)


def is_forward_subject(subject: str | None) -> bool:
    """Whether the subject says the message forwards another ("Fwd:", "FW:", "Пересл:")."""
    return bool(subject and _FORWARD_SUBJECT.match(subject))


def split_body(text: str, *, is_forward: bool = False) -> BodySplit:
    """Cut quoted replies and the signature from a body, keeping forwarded messages.

    Outlook writes replies and forwards with the same "From:/Sent:" header block, so
    `is_forward` (from the subject) says which it is: in a forward the block starts
    the forwarded message, which is kept; in a reply it starts the quote, which goes.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept, forwarded = _strip_quotes(lines, is_forward=is_forward)
    body, signature = _split_signature(kept)
    return BodySplit(
        new_text=_tidy(body),
        signature=_tidy(signature),
        forwarded=_tidy(forwarded),
    )


def _strip_quotes(lines: list[str], *, is_forward: bool) -> tuple[list[str], list[str]]:
    """The sender's own lines, and the forwarded message's lines if there is one."""
    kept: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if _FORWARD_MARKERS.match(line) or (is_forward and _starts_header_block(lines, index)):
            return kept, lines[index:]
        if _starts_header_block(lines, index):
            break  # Outlook and "Original Message" quotes are not prefixed: all the rest.
        span = _attribution_span(lines, index)
        if span:
            after = _next_content(lines, index + span)
            if after is None or not lines[after].lstrip().startswith(">"):
                break  # An attribution over unprefixed text: the quote runs to the end.
            index = after
            continue
        if not line.lstrip().startswith(">"):
            kept.append(line)
        index += 1
    return kept, []


def _starts_header_block(lines: list[str], index: int) -> bool:
    """An Outlook-style quote: "-----Original Message-----", or From: then Sent: soon after."""
    line = lines[index]
    if _ORIGINAL_MESSAGE.match(line):
        return True
    if _RULE.match(line):
        following = _next_content(lines, index + 1)
        return following is not None and bool(_HEADER_FROM.match(lines[following]))
    if not _HEADER_FROM.match(line):
        return False
    window = lines[index + 1 : index + 5]
    return sum(1 for candidate in window if _HEADER_SENT.match(candidate)) >= 2


def _attribution_span(lines: list[str], index: int) -> int:
    """How many lines an "On ... wrote:" style attribution takes here, or 0.

    Only a line that opens like an attribution (a date, a weekday, "On") may run on
    over the next lines, so a sentence above an attribution is never swallowed.
    """
    if lines[index].lstrip().startswith(">") or not lines[index].strip():
        return 0
    may_wrap = bool(_ATTRIBUTION_START.match(lines[index]))
    joined = ""
    for span in range(1, _ATTRIBUTION_SPAN + 1):
        if index + span > len(lines) or (span > 1 and not may_wrap):
            break
        line = lines[index + span - 1].strip()
        if not line or line.startswith(">"):
            break
        if span > 1 and _is_attribution(line) and any(ch.isdigit() for ch in line):
            break  # The attribution starts on that later line; this one is the sender's.
        joined = f"{joined} {line}".strip()
        if len(joined) > _ATTRIBUTION_MAX:
            break
        if _is_attribution(joined):
            return span
    return 0


def _is_attribution(text: str) -> bool:
    return bool(_WROTE.search(text) or _ADDRESS_COLON.search(text))


def _next_content(lines: list[str], start: int) -> int | None:
    for index in range(start, len(lines)):
        if lines[index].strip():
            return index
    return None


def _split_signature(lines: list[str]) -> tuple[list[str], list[str]]:
    """Cut at "-- ", a mobile footer, or a closing "Best regards," block."""
    for index, line in enumerate(lines):
        if _SIGNATURE_DELIMITER.match(line):
            return lines[:index], lines[index + 1 :]
        if _MOBILE_FOOTER.match(line):
            return lines[:index], lines[index:]
    for index in range(len(lines) - 1, -1, -1):
        if _VALEDICTION.match(lines[index]) and _looks_like_signature(lines[index:]):
            return lines[:index], lines[index:]
    return lines, []


def _looks_like_signature(block: list[str]) -> bool:
    content = [line for line in block if line.strip()]
    return len(content) <= _SIGNATURE_MAX_LINES and all(
        len(line) <= _SIGNATURE_LINE_MAX for line in content
    )


def _tidy(lines: list[str]) -> str:
    text = "\n".join(line.rstrip() for line in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def unflow(text: str, *, delsp: bool) -> str:
    """Join RFC 3676 format=flowed lines: a trailing space continues the paragraph
    on the next line (the "-- " signature delimiter excepted)."""
    out: list[str] = []
    carry = ""
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.endswith(" ") and line != "-- ":
            carry += line[:-1] if delsp else line
            continue
        out.append(carry + line)
        carry = ""
    if carry:
        out.append(carry)
    return "\n".join(out).strip("\n")
