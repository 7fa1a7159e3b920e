"""The SLA watcher: assigns queued leads, marks overdue first contacts, escalates.

Runs in the ingest role every `interval`; `run_once(now)` is the bounded form the
tests drive. One transaction per pass holds the team rows (PostgreSQL) and the
candidate leads (`SKIP LOCKED`), so several processes never act on one lead twice
and the rotation stays fair with the consumer. Every change is written to the
assignment ledger and as lead events (the notifier tells the new assignee from
`lead.assigned` / `lead.reassigned`); the notice to a head goes through the outbound
outbox. The same pass teaches the spam classifier the managers' new
junk / not-junk marks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store import intake, intake_write, team_reads
from crm_store import sla as store
from crm_store.database import Database
from crm_store.models import AssignmentLedger, LeadEvent, OutboundRecord
from ingest.contract import OutboundMessage
from ingest.decisions import DEFAULT_SLA_MINUTES, TeamView
from ingest.judgement import team_view
from ingest.row_ids import derived_id
from ingest.sla import (
    Assign,
    EscalationPolicy,
    MarkBreached,
    NotifyHead,
    OpenFirstContact,
    after,
    decide_sla,
)
from ingest.spam_model import baseline, marks_from_state

log = logging.getLogger(__name__)

CLASSIFIER = "default"
# Leads looked at per pass (every 30 s by default).
PAGE = 200


@dataclass(slots=True)
class WatchReport:
    assigned: int = 0
    reassigned: int = 0
    breached: int = 0
    escalated: int = 0
    learned: int = 0
    actions: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.assigned or self.reassigned or self.breached or self.escalated)


class SlaWatcher:
    def __init__(
        self,
        db: Database,
        *,
        sla_minutes: Mapping[str, int] | None = None,
        on_changes: Callable[[], Awaitable[None]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        page: int = PAGE,
    ) -> None:
        self._db = db
        self._sla = dict(sla_minutes or DEFAULT_SLA_MINUTES)
        self._on_changes = on_changes
        self._clock = clock
        self._page = page
        # The breached leads are looked at a page per pass, in turn (see
        # `store.pending_first_contacts`): where the next page starts.
        self._breached_after: store.BreachedCursor = None

    async def run(self, stop: asyncio.Event, interval: float = 30.0) -> None:
        while not stop.is_set():
            try:
                await self.run_once(self._clock())
            except Exception:  # one bad pass must not stop the watcher; it retries
                log.exception("SLA watcher pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async def run_once(self, now: datetime) -> WatchReport:
        report = WatchReport()
        postgres = self._db.dialect == "postgresql"
        async with self._db.sessions() as session, session.begin():
            teams = {
                t.id: team_view(t)
                for t in (await team_reads.load_teams(session, lock=postgres, now=now)).values()
            }
            policies = await store.team_policies(session)
            pending = await store.pending_first_contacts(
                session,
                now,
                limit=self._page,
                skip_locked=postgres,
                breached_after=self._breached_after,
            )
            for row in pending.rows:
                lead = OpenFirstContact(
                    row.lead_id, row.activity_id, row.channel, row.assignee_id, row.team_id,
                    row.due_at, row.breached_at, row.hops, row.escalated,
                )  # fmt: skip
                team = teams.get(row.team_id) if row.team_id is not None else None
                action = decide_sla(lead, team, self._policy(policies, row.team_id),
                                    self._sla_for(row.channel), now)  # fmt: skip
                await self._apply(session, action, team, now, report)
                if isinstance(action, Assign) and team is not None:
                    teams[team.id] = after(team, action)
            report.learned = await self._learn(session, now, lock=postgres)
        self._breached_after = pending.breached_after
        if report.changed and self._on_changes is not None:
            await self._on_changes()
        return report

    def _policy(
        self, policies: Mapping[int, store.TeamPolicyRow], team_id: int | None
    ) -> EscalationPolicy:
        row = policies.get(team_id) if team_id is not None else None
        if row is None:
            return EscalationPolicy()
        grace = timedelta(minutes=row.grace_minutes)
        if row.mode == "notify_head":
            return EscalationPolicy("notify_head", grace, row.max_hops, row.head_user_id)
        return EscalationPolicy("reassign", grace, row.max_hops, row.head_user_id)

    def _sla_for(self, channel: str) -> timedelta:
        return timedelta(minutes=self._sla.get(channel, 30))

    async def _apply(
        self,
        session: AsyncSession,
        action: object,
        team: TeamView | None,
        now: datetime,
        report: WatchReport,
    ) -> None:
        if isinstance(action, Assign):
            await self._assign(session, action, team, now, report)
        elif isinstance(action, MarkBreached):
            await store.mark_breached(session, action.lead.lead_id, now)
            await _event(
                session,
                action.lead,
                "activity.overdue",
                now,
                {"reason": action.reason, "assignee_id": action.lead.assignee_id},
            )
            report.breached += 1
            report.actions.append(f"{action.lead.lead_id}: {action.reason}")
        elif isinstance(action, NotifyHead):
            await _ledger(
                session,
                action.lead,
                "escalated",
                action.lead.assignee_id,
                action.head_user_id,
                action.reason,
                now,
            )
            await _event(
                session,
                action.lead,
                "lead.escalated",
                now,
                {"reason": action.reason, "head_user_id": action.head_user_id},
            )
            emails = await intake.manager_emails(session, [action.head_user_id])
            await _notice(
                session,
                action.lead,
                emails.get(action.head_user_id),
                "sla_escalated",
                action.reason,
                now,
            )
            report.escalated += 1
            report.actions.append(f"{action.lead.lead_id}: {action.reason}")

    async def _assign(
        self,
        session: AsyncSession,
        action: Assign,
        team: TeamView | None,
        now: datetime,
        report: WatchReport,
    ) -> None:
        lead = action.lead
        hop = action.kind == "reassigned"
        await store.assign_lead(
            session,
            lead_id=lead.lead_id,
            activity_id=lead.activity_id,
            to_user=action.to_user,
            due_at=action.due_at,
            now=now,
            hop=hop,
        )
        await _ledger(
            session, lead, action.kind, lead.assignee_id, action.to_user, action.reason, now
        )
        event = "lead.reassigned" if hop else "lead.assigned"
        await _event(
            session,
            lead,
            event,
            now,
            {
                "from_user_id": lead.assignee_id,
                "assignee_id": action.to_user,
                "reason": action.reason,
                "first_contact_due_at": action.due_at.isoformat(),
            },
        )
        if team is not None:
            state = action.team_state
            await intake_write.write_intake(
                session,
                intake_write.IntakeRows(
                    team_cursors={team.id: state.last_user_id},
                    team_rotation={
                        team.id: {"current_weights": [list(p) for p in state.current_weights]}
                    },
                ),
            )
        if hop:
            report.reassigned += 1
        else:
            report.assigned += 1
        report.actions.append(f"{lead.lead_id}: {action.reason}")

    async def _learn(self, session: AsyncSession, now: datetime, *, lock: bool) -> int:
        marks = await store.pending_marks(session)
        if not marks:
            return 0
        state = await store.lock_model(session, CLASSIFIER, lock=lock)
        # The stored model holds only the marks, trained on top of the shipped
        # baseline: a text is nudged until baseline plus marks judge it as marked.
        learned = marks_from_state(state)
        for _, text, is_junk in marks:
            learned.learn(text, is_junk, base=baseline())
        await store.save_model(
            session, CLASSIFIER, learned.to_state(), [mark_id for mark_id, _, _ in marks], now
        )
        return len(marks)


async def _ledger(
    session: AsyncSession,
    lead: OpenFirstContact,
    kind: str,
    from_user: int | None,
    to_user: int | None,
    reason: str,
    now: datetime,
) -> None:
    await session.execute(insert(AssignmentLedger).values(
        id=derived_id(lead.lead_id, f"ledger:{kind}:{lead.hops}:{now.isoformat()}"),
        lead_id=lead.lead_id, kind=kind, from_user_id=from_user, to_user_id=to_user,
        reason=reason, created_at=now,
    ))  # fmt: skip


async def _event(
    session: AsyncSession,
    lead: OpenFirstContact,
    type_: str,
    now: datetime,
    extra: dict[str, Any],
) -> None:
    payload = {"type": type_, "lead_id": str(lead.lead_id), "channel": lead.channel,
               "at": now.isoformat(), **extra}  # fmt: skip
    await session.execute(insert(LeadEvent).values(
        id=derived_id(lead.lead_id, f"event:{type_}:{lead.hops}:{now.isoformat()}"),
        lead_id=lead.lead_id, type=type_, payload=payload, created_at=now, published_at=None,
    ))  # fmt: skip


async def _notice(
    session: AsyncSession,
    lead: OpenFirstContact,
    address: str | None,
    template: str,
    reason: str,
    now: datetime,
) -> None:
    if not address:
        return
    message = OutboundMessage(
        id=derived_id(lead.lead_id, f"notice:{template}:{lead.hops}:{now.isoformat()}"),
        channel="email", purpose="manager_notification", to=address, template=template,
        context={"lead_id": str(lead.lead_id), "reason": reason, "channel": lead.channel},
        lead_id=lead.lead_id, created_at=now,
    )  # fmt: skip
    await session.execute(insert(OutboundRecord).values(
        id=message.id, channel="email", purpose=message.purpose, recipient=address,
        lead_id=lead.lead_id, payload=message.model_dump(mode="json"), created_at=now,
        published_at=None,
    ))  # fmt: skip
