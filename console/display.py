"""How the console shows values to a person: times in their zone, deadlines relative
to now, dates, numbers and money in their language's format, and human labels for
stored codes.

Pure functions over plain values (the clock, the zone, the language and its
translations are arguments), used as Jinja filters by `console.web`. Formats come
from Babel's CLDR data, so a new language brings its own date and number formats.
Phones are written as the deployment's region dials them. Labels and relative
deadlines are gettext messages (`N_` marks them for `make messages`). Imports only
`ingest.contract.i18n` of ours.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from babel.dates import format_date, format_skeleton, format_timedelta
from babel.numbers import format_currency, format_decimal, get_territory_currencies

from ingest.contract.i18n import N_, format_moment
from ingest.contract.i18n import locale_of as _locale

Gettext = Callable[[str], str]

# A stored zone this server does not know (an old tzdata, a hand-edited row) must
# not break a page: such a person sees UTC, and the time says so.
FALLBACK_ZONE: tzinfo = UTC
LOCAL_INPUT = "%Y-%m-%dT%H:%M"

LABELS: dict[str, str] = {
    # channels
    "web_form": N_("Web form"),
    "email": N_("Email"),
    "telegram": N_("Telegram"),
    "whatsapp": N_("WhatsApp"),
    "phone": N_("Phone"),
    "import": N_("Import"),
    "manual": N_("By hand"),
    # lead statuses
    "new": N_("New"),
    "in_progress": N_("In progress"),
    "converted": N_("Converted"),
    "junk": N_("Junk"),
    # activity kinds and statuses
    "call": N_("Call"),
    "message": N_("Message"),
    "meeting": N_("Meeting"),
    "task": N_("Task"),
    "planned": N_("Planned"),
    "done": N_("Done"),
    # roles
    "admin": N_("Admin"),
    "head": N_("Head of sales"),
    "manager": N_("Manager"),
    # connector kinds
    "phone_webhook": N_("Phone webhook"),
    "twilio": N_("Twilio"),
    "imap": N_("IMAP mailbox"),
    # routing strategies
    "round_robin": N_("Round robin"),
    "least_loaded": N_("Least loaded"),
    "weighted": N_("Weighted"),
    # deal stages ("new" is above)
    "qualification": N_("Qualification"),
    "proposal": N_("Proposal"),
    "negotiation": N_("Negotiation"),
    "won": N_("Won"),
    "lost": N_("Lost"),
    # assignment ledger kinds and escalation policies
    "assigned": N_("Assigned"),
    "queued": N_("Queued"),
    "reassigned": N_("Reassigned"),
    "escalated": N_("Escalated"),
    "reassign": N_("reassign"),
    "notify_head": N_("notify the head"),
    # languages, as their speakers name them (the language switch)
    "en": "English",
    "ru": "Русский",
}


# The first-contact activities the pipeline plans carry these English subjects in the
# store; they are shown in the reader's language. A person's own subject is shown as typed.
SUBJECTS: dict[str, str] = {
    "First contact": N_("First contact"),
    "Call back": N_("Call back"),
    "Reply to the email": N_("Reply to the email"),
    "Reply in Telegram": N_("Reply in Telegram"),
    "Reply in WhatsApp": N_("Reply in WhatsApp"),
}


def _same(text: str) -> str:
    return text


def label(code: object, gettext: Gettext = _same) -> str:
    """The human name of a stored code (`web_form` → "Web form"); unknown codes as is."""
    text = str(code or "")
    known = LABELS.get(text)
    return gettext(known) if known else text


def subject(text: object, gettext: Gettext = _same) -> str:
    """An activity's subject: the pipeline's own in the reader's language, else as typed."""
    value = str(text or "")
    known = SUBJECTS.get(value)
    return gettext(known) if known else value


def zone(name: str | None) -> tzinfo:
    """The named IANA zone, or UTC when the name is empty or unknown here."""
    if not name:
        return FALLBACK_ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return FALLBACK_ZONE


def when(value: datetime | None, where: tzinfo = UTC, language: str = "en") -> str:
    """The moment in the viewer's zone, as their language writes it, with the zone's
    name: `Dec 2, 2026, 5:00 AM EST` (CLDR medium date, short time)."""
    return "—" if value is None else format_moment(value, where, language)


def day(value: date | None, language: str = "en") -> str:
    """A calendar day as the language writes it: `Dec 2, 2026` (CLDR medium)."""
    return format_date(value, "medium", locale=_locale(language)) if value else "—"


def day_month(value: date, language: str = "en") -> str:
    """A short day of the month for a chart's axis: `02.12` in Russian, `12/2` in English."""
    return format_skeleton("MMdd", value, locale=_locale(language))


def local_input(value: datetime, where: tzinfo) -> str:
    """The value of an `<input type=datetime-local>` showing `value` in `where`."""
    return value.astimezone(where).strftime(LOCAL_INPUT)


def relative(
    due: datetime | None, now: datetime, language: str = "en", gettext: Gettext = _same
) -> str:
    """A deadline as a person reads it: "in 12 min", "overdue 2 h"; "через 12 мин",
    "просрочено 2 ч". Whole minutes, rounded down; hours from 2 h, days from 2 d."""
    if due is None:
        return ""
    delta = due - now
    if timedelta(0) <= delta < timedelta(minutes=1):
        return gettext(N_("now"))
    span = _span(abs(delta), language)
    if delta >= timedelta(0):
        return gettext(N_("in %(span)s")) % {"span": span}
    return gettext(N_("overdue %(span)s")) % {"span": span}


def _span(delta: timedelta, language: str) -> str:
    minutes = max(int(delta.total_seconds() // 60), 1)
    # Rounded down to the unit shown, so "overdue 2 h" is never really 1 h 31 min.
    if minutes >= 48 * 60:
        whole = timedelta(days=minutes // (24 * 60))
    elif minutes >= 120:
        whole = timedelta(hours=minutes // 60)
    else:
        whole = timedelta(minutes=minutes)
    return format_timedelta(
        whole, threshold=2, granularity="minute", format="short", locale=_locale(language)
    )


def number(value: float | int | Decimal | None, language: str = "en") -> str:
    """A count or measure with the language's grouping and decimal mark."""
    if value is None:
        return "—"
    return format_decimal(value, locale=_locale(language))


def money(amount: float | Decimal | None, region: str = "RU", language: str = "ru") -> str:
    """An amount in the region's currency as the viewer's language writes it:
    `150 000,00 ₽` in Russian; `RUB 150,000.00` in English. No known currency: the
    number alone. Rounded half up to cents from its decimal text, so a float never
    shows its binary noise ("150000.0", "0.30000000000000004")."""
    if amount is None:
        return "—"
    value = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    loc = _locale(language)
    currencies = get_territory_currencies(region.upper()) if len(region) == 2 else []
    if not currencies:
        return format_decimal(value, "#,##0.00", locale=loc)
    text = format_currency(value, currencies[0], locale=loc)
    # Babel glues a code-as-symbol to the digits ("RUB150"); CLDR puts a space there.
    for index, ch in enumerate(text):
        if ch.isdigit() or ch in "-\u2212":
            prefix = text[:index]
            if prefix[-1:].isalpha():
                return f"{prefix}\u00a0{text[index:]}"
            break
    return text


def phone(e164: str | None, region: str = "RU") -> str:
    """A stored E.164 phone as people write it: in the deployment's region the way it
    is dialled there (`8 (903) 555-12-34`), from elsewhere with its country code
    (`+1 212-555-0100`). Text that is no phone number is shown as stored."""
    if not e164:
        return "—"
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    if not phonenumbers.is_valid_number(number):
        return e164
    home = phonenumbers.region_code_for_number(number) == region.upper()
    style = phonenumbers.PhoneNumberFormat
    return phonenumbers.format_number(number, style.NATIONAL if home else style.INTERNATIONAL)
