"""Matching: which known contact an inquiry belongs to, and whether it repeats a lead.

`match_contact` finds the contact by any strong key (email, phone, messenger id);
when the keys point at different contacts it keeps the email's contact and records
the conflict for a person to resolve, never merging on its own, unless an admin has
marked that pair "not a duplicate". `company_from_email` turns a business address
into its company domain (free mail never makes a company). `repeat_decision` says
whether a returning sender's inquiry joins an open lead or starts a repeat lead.
Pure: the store's rows arrive as plain data. Imports only `ingest.contract`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, lru_cache
from importlib import resources
from typing import Literal

from ingest.contract import Inquiry

KeyKind = str  # "email", "phone", or a messenger name such as "telegram"
OPEN_STATUSES = frozenset({"new", "in_progress"})

# Second-level suffixes under which companies register (acme.co.uk, not co.uk).
_MULTI_LABEL_SUFFIXES = frozenset(
    {
        "co.uk", "org.uk", "ac.uk", "com.au", "net.au", "co.jp", "com.br", "com.cn",
        "com.tr", "co.il", "co.in", "com.ua", "org.ru", "com.ru", "net.ru", "msk.ru",
        "spb.ru", "co.kr", "com.kz", "org.kz", "com.by", "co.nz", "co.za", "com.mx",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class IdentityKeys:
    """An inquiry's strong keys, already normalized (lower-case email, E.164 phone)."""

    email: str | None = None
    phone: str | None = None
    messenger: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_inquiry(cls, inquiry: Inquiry) -> IdentityKeys:
        sender = inquiry.sender
        return cls(sender.email, sender.phone, tuple(sorted(sender.messenger_ids.items())))


@dataclass(frozen=True, slots=True)
class ContactKey:
    """One strong key of a known contact, e.g. `ContactKey("c-17", "phone", "+7912...")`."""

    contact_id: str
    kind: KeyKind
    value: str


@dataclass(frozen=True, slots=True)
class Match:
    """`contact_id` None: a new contact. `conflict`: every contact the keys reached,
    the chosen one first, when they disagree."""

    contact_id: str | None
    conflict: tuple[str, ...] | None
    reason: str


def match_contact(
    keys: IdentityKeys,
    known: Sequence[ContactKey],
    not_duplicate_pairs: frozenset[frozenset[str]] = frozenset(),
) -> Match:
    """The contact these keys belong to. Email outranks phone outranks messenger; among
    several contacts sharing one key, the first in `known` wins (the store passes
    them in its preference order)."""
    hits = [(label, ids) for label, ids in _hits(keys, known) if ids]
    if not hits:
        return Match(None, None, "no known contact has these keys; a new contact")
    chosen = hits[0][1][0]
    found = "; ".join(f"{label} → {', '.join(ids)}" for label, ids in hits)
    reached = list(dict.fromkeys(cid for _, ids in hits for cid in ids))
    rivals = [
        cid
        for cid in reached
        if cid != chosen and frozenset({chosen, cid}) not in not_duplicate_pairs
    ]
    if not rivals:
        return Match(chosen, None, f"matched contact {chosen} by {found}")
    conflict = (chosen, *rivals)
    reason = (
        f"keys point to different contacts ({found}); kept {chosen}, "
        f"recorded the conflict, did not merge"
    )
    return Match(chosen, conflict, reason)


def _hits(keys: IdentityKeys, known: Sequence[ContactKey]) -> list[tuple[str, list[str]]]:
    wanted: list[tuple[str, KeyKind, str]] = []
    if keys.email:
        wanted.append((f"email {keys.email}", "email", keys.email.strip().lower()))
    if keys.phone:
        wanted.append((f"phone {keys.phone}", "phone", keys.phone.strip()))
    wanted += [(f"{kind} {value}", kind, value) for kind, value in keys.messenger]
    return [(label, _contacts_with(known, kind, value)) for label, kind, value in wanted]


def _contacts_with(known: Sequence[ContactKey], kind: KeyKind, value: str) -> list[str]:
    if kind == "email":
        ids = (k.contact_id for k in known if k.kind == kind and k.value.lower() == value)
    else:
        ids = (k.contact_id for k in known if k.kind == kind and k.value == value)
    return list(dict.fromkeys(ids))


# --- company from email -----------------------------------------------------------


def company_from_email(email: str | None) -> str | None:
    """The company's domain for a business address (`ivan@msk.acme.ru` → `acme.ru`);
    None for free or disposable mail and for anything that is not an address."""
    domain = email_domain(email)
    return None if domain is None else _company_domain(domain)


@lru_cache(maxsize=4096)  # the shipped lists never change; senders' domains repeat
def _company_domain(domain: str) -> str | None:
    if "." not in domain:
        return None
    if in_domain_list(domain, freemail_domains()) or in_domain_list(domain, disposable_domains()):
        return None
    return registrable_domain(domain)


def email_domain(email: str | None) -> str | None:
    if not email or email.count("@") != 1:
        return None
    domain = email.rsplit("@", 1)[1].strip().strip(".").lower()
    return domain or None


def registrable_domain(domain: str) -> str:
    """The part a company registers: the last two labels, three under `co.uk` & co."""
    labels = domain.lower().strip(".").split(".")
    keep = 3 if ".".join(labels[-2:]) in _MULTI_LABEL_SUFFIXES else 2
    return ".".join(labels[-keep:])


def in_domain_list(domain: str, listed: frozenset[str]) -> bool:
    """`domain` or any parent is listed; `name.*` entries match under any suffix."""
    labels = domain.lower().strip(".").split(".")
    parents = {".".join(labels[i:]) for i in range(len(labels) - 1)}
    if parents & listed:
        return True
    brand = registrable_domain(domain).split(".")[0]
    return f"{brand}.*" in listed


@cache
def freemail_domains() -> frozenset[str]:
    return load_domain_list("freemail_domains.txt")


@cache
def disposable_domains() -> frozenset[str]:
    return load_domain_list("disposable_domains.txt")


def load_domain_list(name: str) -> frozenset[str]:
    """A shipped list from `ingest/data/`: one domain a line, `#` starts a comment."""
    text = resources.files("ingest").joinpath("data", name).read_text(encoding="utf-8")
    lines = (line.split("#", 1)[0].strip().lower() for line in text.splitlines())
    return frozenset(line for line in lines if line)


# --- repeat inquiries -------------------------------------------------------------


LeadStatus = Literal["new", "in_progress", "converted", "junk"]


@dataclass(frozen=True, slots=True)
class LeadRef:
    """An earlier lead of the same identity, as the store knows it."""

    lead_id: str
    status: LeadStatus
    assignee_id: int | None
    created_at: datetime
    last_activity_at: datetime | None = None

    @property
    def touched_at(self) -> datetime:
        return self.last_activity_at or self.created_at


@dataclass(frozen=True, slots=True)
class AppendToLead:
    """Add the inquiry to this open lead as an activity; no new lead."""

    lead_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class RepeatLead:
    """A new lead from a known customer, offered to their previous manager."""

    previous_manager: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class FirstLead:
    """A new lead from someone with no earlier leads."""

    reason: str


RepeatDecision = AppendToLead | RepeatLead | FirstLead


def repeat_decision(
    open_leads: Sequence[LeadRef], now: datetime, window: timedelta
) -> RepeatDecision:
    """Join the most recently touched open lead if it was touched within `window`;
    otherwise a repeat lead for the previous manager; a first lead without history.

    `open_leads` is every earlier lead of this identity, open or closed."""
    if not open_leads:
        return FirstLead("no earlier leads from this sender")
    live = [lead for lead in open_leads if lead.status in OPEN_STATUSES]
    recent = [lead for lead in live if now - lead.touched_at <= window]
    if recent:
        target = max(recent, key=lambda lead: lead.touched_at)
        return AppendToLead(
            target.lead_id,
            f"open lead {target.lead_id} ({target.status}) last touched "
            f"{_ago(now, target.touched_at)} ago, within {_span(window)}",
        )
    previous = _previous_manager(open_leads)
    if live:
        why = f"open lead(s) idle longer than {_span(window)}"
    else:
        why = "earlier leads all closed (converted or junk)"
    offered = f"offered to previous manager {previous}" if previous else "no previous manager"
    return RepeatLead(previous, f"repeat customer: {why}; {offered}")


def _previous_manager(leads: Sequence[LeadRef]) -> int | None:
    # A manager who converted or worked the lead knows the customer; a junk mark
    # says less, so junk leads only count when nothing else has an assignee.
    staffed = [lead for lead in leads if lead.assignee_id is not None]
    useful = [lead for lead in staffed if lead.status != "junk"] or staffed
    if not useful:
        return None
    return max(useful, key=lambda lead: lead.created_at).assignee_id


def _ago(now: datetime, then: datetime) -> str:
    return _span(max(now - then, timedelta(0)))


def _span(delta: timedelta) -> str:
    if delta >= timedelta(days=1):
        return f"{delta.days} d"
    hours, rest = divmod(int(delta.total_seconds()), 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min"
