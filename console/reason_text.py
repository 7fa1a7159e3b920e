"""The dry run's structured reasons (`ingest.reasons`) as sentences for one viewer.

Each reason code has a gettext message; its parameters are filled in the viewer's
language (numbers, strategy labels) and the first-contact deadline is written in the
viewer's time zone with how long after the inquiry it falls ("in 30 min"). An
unknown code gives None, so the caller falls back to the pipeline's English
sentence. Pure: the language, zone, translations and moment are arguments. Imports
`console.display` and `ingest.reasons` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo

from console import display
from console.display import Gettext
from ingest.contract.i18n import N_
from ingest.reasons import Param, Reason

MESSAGES: Mapping[str, str] = {
    "rule": N_("Rule #%(number)s (priority %(priority)s) matched: %(conditions)s."),
    "connector_team": N_("No rule matched: the connector's team %(team)s."),
    "default_team": N_("No rule matched: the default team %(team)s."),
    "missing_team": N_("There is no team %(missing)s, so the default team %(team)s."),
    "no_team": N_("No team is set up for this inquiry."),
    "spam_clean": N_("Not spam (score %(score)s)."),
    "spam_suspicious": N_("Suspicious (score %(score)s): it waits for a look in review."),
    "spam_junk": N_("Junk (score %(score)s)."),
    "assigned": N_("%(manager)s is next (%(strategy)s)."),
    "sticky": N_("A returning customer: stays with %(manager)s."),
    "by_hand": N_("Made by hand for %(manager)s."),
    "junk_unassigned": N_("Junk: assigned to nobody."),
    "queued_no_members": N_("Team %(team)s has no members: the lead waits in its queue."),
    "queued_no_eligible": N_("Nobody in team %(team)s can take it now: it waits in the queue."),
    # `relative` counts from the inquiry's arrival (the dry run's moment): "in 30 min".
    "first_contact_due": N_("First contact due %(when)s, %(relative)s."),
}

SKIPS: Mapping[str, str] = {
    "deactivated": N_("%(name)s is deactivated"),
    "unusable": N_("%(name)s has settings that cannot be used"),
    "absent": N_("%(name)s is absent"),
    "outside_hours": N_("%(name)s is outside working hours"),
    "daily_cap": N_("%(name)s reached the daily cap (%(count)s/%(limit)s)"),
    "capacity": N_("%(name)s is at capacity (%(count)s/%(limit)s open leads)"),
}


def reason_text(
    reason: Reason, gettext: Gettext, language: str, where: tzinfo, at: datetime
) -> str | None:
    """`reason` as a sentence in `language`; None for a code without a message."""
    message = MESSAGES.get(reason.code)
    if message is None:
        return None
    values: dict[str, str] = {k: _shown(v, language) for k, v in reason.params.items()}
    values.setdefault("conditions", "")
    if reason.code == "rule" and not reason.params.get("conditions"):
        values["conditions"] = gettext(N_("any inquiry"))
    if "strategy" in reason.params:
        values["strategy"] = display.label(reason.params["strategy"], gettext).lower()
    if reason.code == "first_contact_due":
        due = datetime.fromisoformat(str(reason.params["due_at"]))
        values["when"] = display.when(due, where, language)
        values["relative"] = display.relative(due, at, language, gettext)
    try:
        text = gettext(message) % values
    except (KeyError, ValueError, TypeError):
        return None
    skipped = reason.params.get("skipped")
    if isinstance(skipped, list) and skipped:
        notes = [_skip(s, gettext) for s in skipped]
        text += " " + gettext(N_("Skipped: %(who)s.")) % {"who": "; ".join(notes)}
    return text


def _skip(skip: Mapping[str, str | int | None], gettext: Gettext) -> str:
    message = SKIPS.get(str(skip.get("code")))
    values = {k: "" if v is None else str(v) for k, v in skip.items()}
    if message is None:
        return values.get("name", "")
    return gettext(message) % values


def _shown(value: Param, language: str) -> str:
    if isinstance(value, float):
        return display.number(value, language)
    return "" if value is None or isinstance(value, list) else str(value)
