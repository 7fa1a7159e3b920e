"""The email policy outgoing mail is built with: threading headers that survive SMTP.

The standard library treats In-Reply-To and References as unstructured text, so a
message id longer than a line (Exchange's are 80 characters and more) is RFC
2047-encoded when the header is folded, and the customer's client no longer
recognises the id and does not thread the reply. `MAIL_POLICY` maps both headers to
`MessageIdListHeader`, which folds only between ids and never encodes. `thread_ids`
is the pure clean-up applied before the ids reach the header: only well-formed ASCII
ids are kept, and a long References list loses its middle (RFC 5322 §3.6.4), never
half an id. `text_transfer_encoding` and `mime_boundary` spare each mail the
standard library's trial encoding and its boundary search. Imports nothing of ours.
"""

from __future__ import annotations

import re
import secrets
from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.policy import Policy, default
from typing import Any, cast

# Printable ASCII without space, "<" or ">": what an id may hold between its brackets.
_ID_TEXT = re.compile(r"[!-;=?-~]+")
_MSG_ID = re.compile(r"<[!-;=?-~]+>")
# An id that could not fit one line of 998 characters with the header's name is no id.
_ID_MAX = 900
_TOKEN = re.compile(r"<[^<>]*>|[^\s<>,]+")
# RFC 5322 allows 998 characters on a line; ids are folded onto their own lines, so
# this bounds the whole header, leaving room for many 80-character Exchange ids.
REFERENCES_BUDGET = 2000


def thread_ids(value: str, budget: int = REFERENCES_BUDGET) -> list[str]:
    """The message ids in `value`, each as `<id>`, in order, without repeats.

    Ids without brackets are taken when they hold an "@". A token that is not a
    printable-ASCII id is dropped (an encoded id would not
    thread anyway). Past `budget` characters the first id (the thread's root) and
    the latest ones are kept: the middle of the conversation is what clients miss least.
    """
    ids: list[str] = []
    for token in _TOKEN.findall(value):
        bare = token.strip("<>").strip()
        msg_id = f"<{bare}>"
        # Unbracketed, only an address-like word is an id (not "Bcc:" smuggled in).
        plausible = token.startswith("<") or "@" in bare
        if plausible and len(bare) <= _ID_MAX and _ID_TEXT.fullmatch(bare) and msg_id not in ids:
            ids.append(msg_id)
    if _length(ids) <= budget:
        return ids
    root, kept = ids[0], list[str]()
    for candidate in reversed(ids[1:]):
        if _length([root, candidate, *kept]) > budget:
            break
        kept.insert(0, candidate)
    return [root, *kept]


def _length(ids: list[str]) -> int:
    return sum(len(i) + 1 for i in ids)


def fold_ids(name: str, ids: list[str], max_line_length: int | None, linesep: str) -> str:
    """`name: id id` folded only between ids; a too-long id keeps a line to itself."""
    limit = max_line_length or 0
    lines = [f"{name}:"]
    for i, msg_id in enumerate(ids):
        fits = not limit or len(lines[-1]) + 1 + len(msg_id) <= limit
        if fits or i == 0:
            lines[-1] += f" {msg_id}"
        else:
            lines.append(f" {msg_id}")
    return linesep.join(lines) + linesep


class MessageIdListHeader(UnstructuredHeader, BaseHeader):
    """In-Reply-To and References: folded between ids, never RFC 2047-encoded."""

    def fold(self, *, policy: Policy) -> str:
        ids = str(self).split()
        if not ids or not all(_MSG_ID.fullmatch(i) for i in ids):
            # Not a list of ASCII ids (a message built without `thread_ids`):
            # the standard folding is the only safe way to carry it.
            return super().fold(policy=policy)
        return fold_ids(self.name, ids, policy.max_line_length, policy.linesep)


class _FoldedOnce:
    """A header class's mixin: the folded text kept per policy. A header object is
    shared by every mail that has the same header (the registry below), and folding
    it again for each took a sixth of the dispatcher's CPU (issue 11)."""

    def fold(self, *, policy: Policy) -> str:
        key = _policy_key(policy)
        if key is None:
            return cast(str, super().fold(policy=policy))  # type: ignore[misc]
        folded: dict[object, str] = self.__dict__.setdefault("_folded", {})
        text = folded.get(key)
        if text is None:
            text = folded[key] = super().fold(policy=policy)  # type: ignore[misc]
        return text


def _policy_key(policy: Policy) -> object | None:
    """What a policy folds by: its class and every setting it overrides (a clone made
    per mail, as aiosmtplib makes one, gives the same key); None when one is not
    hashable."""
    key = (type(policy), tuple(sorted(vars(policy).items())))
    try:
        hash(key)
    except TypeError:
        return None
    return key


class _ClassOnceRegistry(HeaderRegistry):
    """`HeaderRegistry`, making each header name's class once, and each header once
    per value.

    The standard registry builds a new class with `type()` for every header it
    stores (about 15 µs each, a sixth of composing a mail: issue 11); that class
    depends on nothing but the name's registered class, so it is kept, with
    `_FoldedOnce` in front. A header object is immutable and a mail stores it as it
    is, so the same name and text (the sender, `Auto-Submitted`, the MIME headers:
    about half of a mail's) reuse the object parsed the first time instead of
    parsing the text again.
    """

    _LIMIT = 512  # names, and (name, text) pairs, remembered; a mail has about twenty

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}
        self._parsed: dict[tuple[str, str], BaseHeader] = {}

    def map_to_type(self, name: str, cls: type[BaseHeader]) -> None:
        super().map_to_type(name, cls)
        self._made.clear()
        self._parsed.clear()

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            if len(self._made) >= self._LIMIT:
                self._made.clear()
            registered = self.registry.get(key, self.default_class)
            made = self._made[key] = type(
                "_" + registered.__name__, (_FoldedOnce, registered, self.base_class), {}
            )
        return made

    def __call__(self, name: str, value: Any) -> BaseHeader:
        if type(value) is not str:
            return super().__call__(name, value)
        key = (name, value)
        parsed = self._parsed.get(key)
        if parsed is None:
            if len(self._parsed) >= self._LIMIT:
                self._parsed.clear()
            parsed = self._parsed[key] = super().__call__(name, value)
        return parsed


def _registry() -> HeaderRegistry:
    registry = _ClassOnceRegistry()
    registry.map_to_type("in-reply-to", MessageIdListHeader)
    registry.map_to_type("references", MessageIdListHeader)
    return registry


MAIL_POLICY = default.clone(header_factory=_registry())

# Bytes quoted-printable must write as "=XX".
_HIGH_BYTES = bytes(range(128, 256))
# A multipart boundary in the standard generator's shape (15 "=", 19 digits, "=="),
# which filters know from every Python mailer, drawn once per process: the generator
# draws one per mail and compiles a regular expression to search the mail for it,
# and the Content-Type header that holds it is then parsed and folded per mail;
# one boundary makes that header the same in every mail, made once.
PROCESS_BOUNDARY = f"==============={secrets.randbelow(10**19):019d}=="


def text_transfer_encoding(text: str, policy: Policy = MAIL_POLICY) -> str | None:
    """Base64 where the standard library would pick it for `text` after its trial
    quoted-printable encoding of the first ten lines (a pure-Python pass, a tenth of
    a mail's CPU), else None to let it decide. Over a quarter of the sample's bytes
    non-ASCII (Russian text is almost all) and quoted-printable, at three characters
    a byte, is longer than base64 whatever the rest holds."""
    if text.isascii():
        return None
    lines = text.encode().splitlines()
    limit = policy.max_line_length
    if limit is None or max(map(len, lines), default=0) <= limit:
        return None  # sent as 8bit, no trial
    sample = policy.linesep.encode().join(lines[:10]) + policy.linesep.encode()
    high = len(sample) - len(sample.translate(None, _HIGH_BYTES))
    return "base64" if len(sample) > 24 and 4 * high > len(sample) else None


def mime_boundary(*texts: str, boundary: str = PROCESS_BOUNDARY) -> str | None:
    """`boundary`, or None (the generator draws one) when a text holds it: a customer
    who copies it from an acknowledgement into a form changes only that mail. Neither
    base64 nor quoted-printable writes "==" mid-line: only the raw texts can hold it."""
    return None if any(boundary in text for text in texts) else boundary
