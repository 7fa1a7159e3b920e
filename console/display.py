"""How the console shows values to a person: times in their zone, deadlines relative
to now, money in the region's format, and human labels for stored codes.

Pure functions over plain values (the clock and the zone are arguments), used as
Jinja filters by `console.web`. The labels are a plain map for now; they are the
strings a translation catalog will take over. Imports nothing of ours.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# A stored zone this server does not know (an old tzdata, a hand-edited row) must
# not break a page: such a person sees UTC, and the time says so.
FALLBACK_ZONE: tzinfo = UTC
LOCAL_INPUT = "%Y-%m-%dT%H:%M"

LABELS: dict[str, str] = {
    # channels
    "web_form": "Web form",
    "email": "Email",
    "telegram": "Telegram",
    "whatsapp": "WhatsApp",
    "phone": "Phone",
    "import": "Import",
    "manual": "By hand",
    # lead statuses
    "new": "New",
    "in_progress": "In progress",
    "converted": "Converted",
    "junk": "Junk",
    # activity kinds and statuses
    "call": "Call",
    "message": "Message",
    "meeting": "Meeting",
    "task": "Task",
    "planned": "Planned",
    "done": "Done",
    # roles
    "admin": "Admin",
    "head": "Head of sales",
    "manager": "Manager",
    # connector kinds
    "phone_webhook": "Phone webhook",
    "twilio": "Twilio",
    "imap": "IMAP mailbox",
}


def label(code: object) -> str:
    """The human name of a stored code (`web_form` → "Web form"); unknown codes as is."""
    text = str(code or "")
    return LABELS.get(text, text)


def zone(name: str | None) -> tzinfo:
    """The named IANA zone, or UTC when the name is empty or unknown here."""
    if not name:
        return FALLBACK_ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return FALLBACK_ZONE


def when(value: datetime | None, where: tzinfo = UTC) -> str:
    """`2026-12-02 13:05 MSK`: the moment in the viewer's zone, with the zone's name."""
    if value is None:
        return "—"
    local = value.astimezone(where)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()


def local_input(value: datetime, where: tzinfo) -> str:
    """The value of an `<input type=datetime-local>` showing `value` in `where`."""
    return value.astimezone(where).strftime(LOCAL_INPUT)


def relative(due: datetime | None, now: datetime) -> str:
    """A deadline as a person reads it: "in 12 min", "overdue 2 h", "in 3 d"."""
    if due is None:
        return ""
    delta = due - now
    if delta >= timedelta(0):
        return f"in {_span(delta)}" if delta >= timedelta(minutes=1) else "now"
    return f"overdue {_span(-delta)}"


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 1)} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} d"


# region → (currency sign after the number, thousands separator, decimal mark)
_MONEY: dict[str, tuple[str, str, str]] = {
    "RU": ("₽", "\u00a0", ","),
    "BY": ("Br", "\u00a0", ","),
    "KZ": ("₸", "\u00a0", ","),
    "UA": ("₴", "\u00a0", ","),
}


def money(amount: float | Decimal | None, region: str = "RU") -> str:
    """An amount as the region writes it: `150 000,00 ₽` in Russia, else `150,000.00`.

    Rounded half up to kopecks from its decimal text, so a float never shows its
    binary representation ("150000.0", "0.30000000000000004")."""
    if amount is None:
        return "—"
    value = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign, thousands, mark = _MONEY.get(region.upper(), ("", ",", "."))
    whole, _, cents = f"{abs(value):.2f}".partition(".")
    groups = f"{int(whole):,}".replace(",", thousands)
    text = f"{'-' if value < 0 else ''}{groups}{mark}{cents}"
    return f"{text}\u00a0{sign}" if sign else text
