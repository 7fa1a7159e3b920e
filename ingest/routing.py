"""Routing: which team an inquiry goes to, and which member of that team gets it.

`pick_team` applies admin-defined rules (channel, form, connector, language, phone
country or prefix, UTM tags) in priority order. `assign` picks a manager by the
team's strategy (round-robin, least-loaded, smooth weighted round-robin) among the
members who are eligible right now, keeping a returning customer with their previous
manager. Both return a decision with a sentence saying why, and `assign` returns the
team's new rotation state for the caller to persist. Pure: the time and the members'
state are arguments. Imports only `ingest.contract` and the sibling pure module `ingest.worktime`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

import phonenumbers

from ingest.contract import Inquiry
from ingest.worktime import Interval, WeeklyHours, is_working

Strategy = Literal["round_robin", "least_loaded", "weighted"]

_STRATEGY_LABEL: dict[Strategy, str] = {
    "round_robin": "round-robin",
    "least_loaded": "least-loaded",
    "weighted": "weighted",
}


# --- team rules -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoutingRule:
    """Send matching inquiries to `team`. Every criterion set must match; lower
    `priority` is tried first. `phone_country` is an ISO region ("RU");
    `phone_region_prefix` an E.164 prefix ("+7495")."""

    priority: int
    team: str
    channel: str | None = None
    form: str | None = None
    connector: str | None = None
    language: str | None = None
    phone_country: str | None = None
    phone_region_prefix: str | None = None
    utm_source: str | None = None
    utm_campaign: str | None = None


@dataclass(frozen=True, slots=True)
class TeamChoice:
    team: str
    reason: str


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """The rule that sends an inquiry to its team: `number` counts from 1 in list order."""

    number: int
    rule: RoutingRule
    criteria: tuple[tuple[str, str], ...]


def matching_rule(inquiry: Inquiry, rules: Sequence[RoutingRule]) -> RuleMatch | None:
    """The first rule (by priority, then list order) whose every condition holds."""
    # The facts cost a phone parse and a pass over the text: only rules need them.
    facts = _facts(inquiry) if rules else {}
    ordered = sorted(enumerate(rules), key=lambda pair: (pair[1].priority, pair[0]))
    for position, rule in ordered:
        criteria = _criteria(rule)
        if all(_holds(facts.get(name), name, wanted) for name, wanted in criteria):
            return RuleMatch(position + 1, rule, tuple((n, str(w)) for n, w in criteria))
    return None


def pick_team(inquiry: Inquiry, rules: Sequence[RoutingRule], default_team: str) -> TeamChoice:
    """The first rule (by priority, then list order) that matches, else the connector's
    team hint, else `default_team`."""
    matched = matching_rule(inquiry, rules)
    if matched is not None:
        shown = ", ".join(f"{name}={wanted}" for name, wanted in matched.criteria) or "any"
        reason = f"rule #{matched.number} (priority {matched.rule.priority}): {shown}"
        return TeamChoice(matched.rule.team, reason)
    if inquiry.routing.team:
        return TeamChoice(inquiry.routing.team, "no rule matched; the connector's team")
    return TeamChoice(default_team, "no rule matched; the default team")


# In UTF-8 a Latin letter is its own ASCII byte, and the Cyrillic block U+0400-U+04FF
# is exactly the two-byte sequences led by 0xD0-0xD3 (lead bytes never repeat as
# continuation bytes), so counting bytes counts those characters.
_LATIN_BYTES = bytes(range(ord("A"), ord("Z") + 1)) + bytes(range(ord("a"), ord("z") + 1))
_CYRILLIC_LEAD_BYTES = bytes(range(0xD0, 0xD4))


def detect_language(text: str) -> str | None:
    """ "ru" when Cyrillic letters outnumber Latin ones, "en" otherwise, None without
    letters. A script heuristic is enough to route between two desks.

    Counted on the UTF-8 bytes with `bytes.translate`, in C: a loop over the characters
    cost about as much as the rest of the acknowledgement (issue 11). Lone surrogates,
    which a producer's JSON may carry, pass as three bytes that count as neither.
    """
    raw = text.encode("utf-8", "surrogatepass")
    latin = len(raw) - len(raw.translate(None, _LATIN_BYTES))
    cyrillic = len(raw) - len(raw.translate(None, _CYRILLIC_LEAD_BYTES))
    if cyrillic == latin == 0:
        return None
    return "ru" if cyrillic >= latin else "en"


def phone_country(phone: str | None) -> str | None:
    """The ISO region of an E.164 number ("+7 701 ..." is "KZ"), None if unknown."""
    if not phone:
        return None
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return None
    region: str | None = phonenumbers.region_code_for_number(number)
    return region if region and region != "ZZ" else None


def _facts(inquiry: Inquiry) -> dict[str, str | None]:
    text = " ".join(part for part in (inquiry.subject, inquiry.text) if part)
    return {
        "channel": inquiry.channel.value,
        "form": inquiry.routing.form,
        "connector": inquiry.routing.connector,
        "language": detect_language(text),
        "phone_country": phone_country(inquiry.sender.phone),
        "phone_region_prefix": inquiry.sender.phone,
        "utm_source": inquiry.source.utm_source,
        "utm_campaign": inquiry.source.utm_campaign,
    }


def _criteria(rule: RoutingRule) -> list[tuple[str, str]]:
    pairs = [
        ("channel", rule.channel),
        ("form", rule.form),
        ("connector", rule.connector),
        ("language", rule.language),
        ("phone_country", rule.phone_country.upper() if rule.phone_country else None),
        ("phone_region_prefix", _e164_prefix(rule.phone_region_prefix)),
        ("utm_source", rule.utm_source),
        ("utm_campaign", rule.utm_campaign),
    ]
    return [(name, value) for name, value in pairs if value is not None]


def _holds(fact: str | None, name: str, wanted: str) -> bool:
    if fact is None:
        return False
    if name == "phone_region_prefix":
        return fact.startswith(wanted)
    return fact.casefold() == wanted.casefold()


def _e164_prefix(prefix: str | None) -> str | None:
    if prefix is None:
        return None
    return "+" + "".join(ch for ch in prefix if ch.isdigit())


# --- member assignment ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberState:
    """What assignment needs to know about one team member, right now.

    `capacity` caps open leads (None = no cap); `daily_cap` caps leads assigned
    today; `weight` is the member's share under the weighted strategy. `unusable`
    says why a stored setting cannot be used (an unknown time zone, impossible
    hours): such a member is ineligible until an admin fixes it, and never raises."""

    user_id: int
    name: str
    active: bool = True
    capacity: int | None = None
    timezone: str = "UTC"
    working_hours: WeeklyHours = field(default_factory=WeeklyHours.always)
    absences: tuple[Interval, ...] = ()
    assigned_today: int = 0
    open_leads: int = 0
    daily_cap: int | None = None
    weight: int = 1
    pending_first_contacts: int = 0
    unusable: str | None = None

    @property
    def load(self) -> int:
        return self.open_leads + self.pending_first_contacts


@dataclass(frozen=True, slots=True)
class TeamState:
    """A team's strategy and rotation state, persisted by the caller between calls.

    `last_user_id` is the round-robin cursor; `current_weights` holds the smooth
    weighted round-robin's running weights as sorted `(user_id, weight)` pairs."""

    name: str
    strategy: Strategy = "round_robin"
    last_user_id: int | None = None
    current_weights: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Assignment:
    """`user_id` None means queued: nobody is eligible now."""

    user_id: int | None
    reason: str
    new_team_state: TeamState


def assign(
    team: TeamState,
    members: Sequence[MemberState],
    now: datetime,
    previous_manager: int | None = None,
) -> Assignment:
    """Pick the member who gets the lead; explain the pick and every skip."""
    if not members:
        return Assignment(None, f"queued: team {team.name} has no members", team)
    ordered = sorted(members, key=lambda m: m.user_id)
    skips = {m.user_id: skip for m in ordered if (skip := ineligibility(m, now)) is not None}
    eligible = [m for m in ordered if m.user_id not in skips]
    notes = [f"{m.name} {skips[m.user_id]}" for m in ordered if m.user_id in skips]
    sticky = next((m for m in eligible if m.user_id == previous_manager), None)
    if sticky is not None:
        return Assignment(sticky.user_id, f"returning customer; sticky to {sticky.name}", team)
    lead_in = _previous_manager_note(ordered, skips, previous_manager)
    if not eligible:
        return Assignment(None, f"queued: no eligible member ({'; '.join(notes)})", team)
    chosen, detail, state = _choose(team, eligible, ordered)
    label = _STRATEGY_LABEL[team.strategy]
    reason = "; ".join([*lead_in, label, f"{chosen.name} next{detail}", *notes])
    return Assignment(chosen.user_id, reason, state)


SkipCode = Literal["deactivated", "unusable", "absent", "outside_hours", "daily_cap", "capacity"]


@dataclass(frozen=True, slots=True)
class Skip:
    """Why a member cannot take a lead, as a code and its numbers (for people to read
    in their own language); `text` is the English sentence the lead's history keeps."""

    code: SkipCode
    text: str
    count: int | None = None
    limit: int | None = None


def why_ineligible(member: MemberState, now: datetime) -> Skip | None:
    """Why `member` cannot take a lead at `now`, or None when they can."""
    if not member.active:
        return Skip("deactivated", "deactivated")
    if member.unusable is not None:
        return Skip("unusable", f"ineligible: {member.unusable}")
    if any(absence.contains(now) for absence in member.absences):
        return Skip("absent", "on absence")
    if not is_working(member.working_hours, member.timezone, now):
        return Skip("outside_hours", "outside hours")
    if member.daily_cap is not None and member.assigned_today >= member.daily_cap:
        text = f"at daily cap ({member.assigned_today}/{member.daily_cap})"
        return Skip("daily_cap", text, member.assigned_today, member.daily_cap)
    if member.capacity is not None and member.open_leads >= member.capacity:
        text = f"at capacity ({member.open_leads}/{member.capacity} open)"
        return Skip("capacity", text, member.open_leads, member.capacity)
    return None


def ineligibility(member: MemberState, now: datetime) -> str | None:
    """Why `member` cannot take a lead at `now` (a sentence), or None when they can."""
    skip = why_ineligible(member, now)
    return None if skip is None else skip.text


def _previous_manager_note(
    ordered: Sequence[MemberState], skips: dict[int, str], previous: int | None
) -> list[str]:
    if previous is None:
        return []
    member = next((m for m in ordered if m.user_id == previous), None)
    if member is None:
        return ["previous manager not in this team"]
    return [f"previous manager {member.name} {skips[previous]}"]


def _choose(
    team: TeamState, eligible: Sequence[MemberState], members: Sequence[MemberState]
) -> tuple[MemberState, str, TeamState]:
    if team.strategy == "least_loaded":
        return _least_loaded(team, eligible)
    if team.strategy == "weighted":
        return _weighted(team, eligible, members)
    chosen = _after_cursor(eligible, team.last_user_id)[0]
    return chosen, "", replace(team, last_user_id=chosen.user_id)


def _after_cursor(ordered: Sequence[MemberState], cursor: int | None) -> list[MemberState]:
    """Members in rotation order, starting with the first one after the cursor."""
    if cursor is None:
        return list(ordered)
    later = [m for m in ordered if m.user_id > cursor]
    return later + [m for m in ordered if m.user_id <= cursor]


def _least_loaded(
    team: TeamState, eligible: Sequence[MemberState]
) -> tuple[MemberState, str, TeamState]:
    # Ties rotate from the cursor, so equal loads still spread evenly.
    rotation = _after_cursor(eligible, team.last_user_id)
    chosen = min(rotation, key=lambda m: m.load)
    detail = f" (load {chosen.load}: open leads + pending first contacts)"
    return chosen, detail, replace(team, last_user_id=chosen.user_id)


def _weighted(
    team: TeamState, eligible: Sequence[MemberState], members: Sequence[MemberState]
) -> tuple[MemberState, str, TeamState]:
    # Smooth weighted round-robin (as in nginx): everyone gains their weight, the
    # leader is picked and pays back the total, which interleaves picks evenly.
    present = {m.user_id for m in members}
    current = dict(team.current_weights)
    total = sum(max(m.weight, 0) for m in eligible)
    for member in eligible:
        current[member.user_id] = current.get(member.user_id, 0) + max(member.weight, 0)
    rotation = _after_cursor(eligible, team.last_user_id)
    chosen = max(rotation, key=lambda m: current[m.user_id])
    current[chosen.user_id] -= total
    # Forget members who left the team, so the state does not grow forever.
    kept = tuple(sorted((uid, w) for uid, w in current.items() if uid in present))
    detail = f" (weight {chosen.weight} of {total})"
    return chosen, detail, replace(team, last_user_id=chosen.user_id, current_weights=kept)
