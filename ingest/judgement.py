"""The judgement's admin-edited inputs, as the consumer's decisions need them.

Routing rules, blocklists, the classifier (the shipped baseline with the managers'
marks over it) and rule settings change rarely but are
read by every batch, so they are cached for a few seconds (an admin's change takes
effect within `JudgementCache.ttl`). `team_view` turns a team as the store returns
it into the pure `TeamView`. Bad admin data (an unknown weekday, a broken
classifier state) is logged and left out rather than stopping ingestion.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_store import team_reads
from ingest.classifier import TextClassifier
from ingest.contract import InvalidIdentity, normalize_phone
from ingest.decisions import Policy, TeamView
from ingest.routing import MemberState, RoutingRule
from ingest.spam import Blocklist, SpamThresholds
from ingest.spam_model import effective_classifier, marks_from_state
from ingest.worktime import Interval, WeeklyHours, zone_problem

log = logging.getLogger(__name__)

SLA_SETTING = "sla_minutes"
SPAM_SETTING = "spam_thresholds"


@dataclass(frozen=True, slots=True)
class Judgement:
    rules: tuple[RoutingRule, ...] = ()
    blocklist: Blocklist = field(default_factory=Blocklist)
    classifier: TextClassifier | None = None
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def policy(self, base: Policy) -> Policy:
        """`base` with the admin's SLA minutes and spam thresholds applied."""
        sla = self.settings.get(SLA_SETTING)
        spam = self.settings.get(SPAM_SETTING)
        policy = base
        if sla:
            minutes = {k: int(v) for k, v in sla.items() if isinstance(v, int | float)}
            policy = replace(policy, sla_minutes={**policy.sla_minutes, **minutes})
        if spam:
            known = {k: v for k, v in spam.items() if k in SpamThresholds.__dataclass_fields__}
            try:
                policy = replace(policy, spam=replace(policy.spam, **known))
            except TypeError:
                log.warning("ignoring invalid spam thresholds %r", spam)
        return policy


class JudgementCache:
    """Loads `Judgement` from the store at most once per `ttl`."""

    def __init__(self, ttl: timedelta = timedelta(seconds=5)) -> None:
        self.ttl = ttl
        self._value = Judgement()
        self._loaded_at: datetime | None = None

    def invalidate(self) -> None:
        self._loaded_at = None

    async def get(self, session: AsyncSession, now: datetime) -> Judgement:
        if self._loaded_at is None or now - self._loaded_at >= self.ttl:
            self._value = build_judgement(await team_reads.load_judgement(session))
            self._loaded_at = now
        return self._value


def build_judgement(data: team_reads.JudgementData) -> Judgement:
    rules = tuple(
        RoutingRule(priority=priority, team=team, **criteria)
        for priority, team, criteria in data.rules
    )
    return Judgement(
        rules=rules,
        blocklist=_blocklist(data.blocklist),
        classifier=_classifier(data.classifier_state),
        settings=dict(data.settings),
    )


def _blocklist(entries: tuple[tuple[str, str], ...]) -> Blocklist:
    by_kind: dict[str, set[str]] = {}
    for kind, value in entries:
        cleaned = value.strip().lower()
        if kind == "phone":
            try:
                cleaned = normalize_phone(value)
            except InvalidIdentity:
                log.warning("blocklist phone %r is not a phone number; ignored", value)
                continue
        by_kind.setdefault(kind, set()).add(cleaned)
    return Blocklist(
        emails=frozenset(by_kind.get("email", ())),
        domains=frozenset(by_kind.get("domain", ())),
        phones=frozenset(by_kind.get("phone", ())),
        ips=frozenset(by_kind.get("ip", ())),
        keywords=frozenset(by_kind.get("keyword", ())),
    )


def _classifier(state: dict[str, Any] | None) -> TextClassifier:
    """The shipped baseline, with the managers' marks from the store laid over it."""
    return effective_classifier(marks_from_state(state))


def team_view(team: team_reads.TeamRow) -> TeamView:
    members = tuple(_member_state(m) for m in team.members)
    weights = tuple((int(uid), int(w)) for uid, w in team.rotation_state.get("current_weights", []))
    return TeamView(
        id=team.id,
        name=team.name,
        member_ids=team.member_ids,
        last_user_id=team.last_user_id,
        member_names=team.member_names,
        members=members,
        strategy=team.strategy,
        current_weights=weights,
    )


def _member_state(m: team_reads.MemberRow) -> MemberState:
    """A member's state; a stored setting that cannot be used makes them ineligible
    (with the reason) instead of failing the batch, and is replaced by a harmless
    value so no later working-time sum can raise on it."""
    problems: list[str] = []
    timezone = m.timezone
    if (problem := zone_problem(timezone)) is not None:
        problems.append(problem)
        timezone = "UTC"
    hours = WeeklyHours.always()
    # Only None is "always": {} or a week of [] is an admin's "every day off".
    if m.working_hours is not None:
        try:
            hours = WeeklyHours.from_mapping(
                {day: [tuple(span) for span in spans] for day, spans in m.working_hours.items()}
            )
        except (ValueError, TypeError, AttributeError) as exc:
            problems.append(f"working hours unusable ({exc})")
    if problems:
        log.warning("member %s cannot take leads: %s", m.name, "; ".join(problems))
    return MemberState(
        user_id=m.user_id,
        name=m.name,
        active=True,
        capacity=m.capacity,
        timezone=timezone,
        working_hours=hours,
        absences=tuple(Interval(start, end) for start, end in m.absences if end > start),
        assigned_today=m.assigned_today,
        open_leads=m.open_leads,
        daily_cap=m.daily_cap,
        weight=m.weight,
        pending_first_contacts=m.pending_first_contacts,
        unusable="; ".join(problems) or None,
    )
