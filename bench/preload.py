"""Fills a LeadFlow store with old leads, fast, for the "cost as the store fills" runs.

Bulk SQLAlchemy Core inserts (`insert(Model)` with a list of row dicts, one
transaction per batch), bypassing the pipeline. Each preloaded lead brings what the
consumer would have written: a contact with its email identity, the lead, a
first-contact activity (most of them done), the inquiry record (idempotency key), two
published lead events and two published outbound messages; so every index the consumer
touches is as big as it would be after that many real inquiries. Timestamps lie in the
past, so the benchmark's "leads created since t0" counts never see them. The tenth
of them never contacted are overdue, and stored as the SLA watcher leaves such a lead
once it has run out of moves: breached, reassigned up to the hop limit, escalated to
the head (the ledger's row); otherwise the watcher would spend the run working off
100,000 breaches at 1M leads, a backlog no store that grew under LeadFlow holds. Ends
with VACUUM ANALYZE on PostgreSQL, as autovacuum would have done on a store that grew so.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from crm_store.database import create_engine
from crm_store.models import (
    Activity,
    AssignmentLedger,
    Contact,
    ContactIdentity,
    InquiryRecord,
    Lead,
    LeadEvent,
    OutboundRecord,
    Team,
    TeamMember,
)

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class _Team:
    id: int
    members: list[int]
    head: int | None
    max_hops: int


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128))


def _rows(
    first: int,
    count: int,
    team: _Team,
    epoch: datetime,
    rng: random.Random,
    closed_share: float = 0.0,
) -> dict[type[Any], list[dict[str, Any]]]:
    out: dict[type[Any], list[dict[str, Any]]] = {
        m: []
        for m in (
            Contact,
            ContactIdentity,
            Lead,
            Activity,
            InquiryRecord,
            LeadEvent,
            OutboundRecord,
            AssignmentLedger,
        )
    }
    for i in range(first, first + count):
        at = epoch + timedelta(seconds=i)
        email = f"pre-{i}@preload.test"
        contact_id, lead_id = _uuid(rng), _uuid(rng)
        assignee = team.members[i % len(team.members)] if team.members else None
        # Spread evenly (per hundred leads), so any prefix of the store has the mix.
        closed = i % 100 < closed_share * 100
        status = ("converted" if i % 3 else "junk") if closed else None
        out[Contact].append(
            {"id": contact_id, "name": f"Old {i}", "email": email, "phone": None, "created_at": at}
        )
        out[ContactIdentity].append(
            {"id": _uuid(rng), "contact_id": contact_id, "kind": "email", "value": email}
        )
        done = i % 10 != 0 or closed
        due = at + timedelta(minutes=30)
        out[Lead].append(
            {
                "id": lead_id,
                "status": status or ("in_progress" if i % 10 else "new"),
                "channel": "web_form",
                "title": f"Old {i}: an earlier inquiry",
                "contact_id": contact_id,
                "team_id": team.id,
                "assignee_id": assignee,
                "assignment_reason": "preloaded",
                "first_contact_due_at": due,
                "sla_breached_at": None if done else due,
                "escalation_hops": 0 if done else team.max_hops,
                "spam_score": 0.0,
                "spam_reasons": [],
                "source": {},
                "created_at": at,
                "updated_at": at,
                "assigned_at": at,
            }
        )
        if not done:
            out[AssignmentLedger].append(
                {
                    "id": _uuid(rng),
                    "lead_id": lead_id,
                    "kind": "escalated",
                    "from_user_id": assignee,
                    "to_user_id": team.head,
                    "reason": "first contact overdue; hop limit reached",
                    "created_at": due + timedelta(hours=1),
                }
            )
        out[Activity].append(
            {
                "id": _uuid(rng),
                "lead_id": lead_id,
                "contact_id": contact_id,
                "deal_id": None,
                "assignee_id": assignee,
                "kind": "call",
                "direction": "outbound",
                "status": "done" if done else "planned",
                "subject": "First contact",
                "is_first_contact": True,
                "due_at": due,
                "done_at": at + timedelta(minutes=10) if done else None,
                "result": None,
                "created_at": at,
            }
        )
        out[InquiryRecord].append(
            {
                "id": _uuid(rng),
                "idempotency_key": f"form:contact:preload-{i}",
                "channel": "web_form",
                "received_at": at,
                "payload": {"sender": {"email": email}},
                "lead_id": lead_id,
                "outcome": "new_lead",
                "created_at": at,
            }
        )
        for kind in ("lead.created", "lead.assigned"):
            out[LeadEvent].append(
                {
                    "id": _uuid(rng),
                    "lead_id": lead_id,
                    "type": kind,
                    "payload": {"type": kind, "lead_id": str(lead_id)},
                    "created_at": at,
                    "published_at": at,
                }
            )
        # What ingest asks the connectors to send: an acknowledgement, a manager notice.
        for purpose, to in (("acknowledgement", email), ("manager_notice", "manager@preload.test")):
            out[OutboundRecord].append(
                {
                    "id": _uuid(rng),
                    "channel": "email",
                    "purpose": purpose,
                    "recipient": to,
                    "lead_id": lead_id,
                    "payload": {"purpose": purpose, "to": to},
                    "created_at": at,
                    "published_at": at,
                }
            )
    return out


async def _team(conn: AsyncConnection) -> _Team:
    found = (
        await conn.execute(
            select(Team.id, Team.head_user_id, Team.escalation_max_hops).order_by(Team.id).limit(1)
        )
    ).first()
    if found is None:
        raise RuntimeError("the store has no team: start LeadFlow with --demo once first")
    team_id, head, max_hops = found
    members = list(
        await conn.scalars(
            select(TeamMember.user_id)
            .where(TeamMember.team_id == team_id)
            .order_by(TeamMember.user_id)
        )
    )
    return _Team(int(team_id), members, head, max_hops)


async def count_leads(url: str) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(Lead)) or 0)
    finally:
        await engine.dispose()


async def preload(
    url: str,
    target: int,
    *,
    batch: int = 5000,
    progress: Progress | None = None,
    closed_share: float = 0.0,
) -> dict[str, float]:
    """Insert old leads until the store holds `target` leads; returns what it did.

    Every preloaded lead is open (new or in progress) unless `closed_share` says which
    share is converted or junk, as in a store that has been worked for years; the
    growth figure keeps the default, so it stays comparable with earlier runs."""
    engine = create_engine(url)
    started = time.perf_counter()
    try:
        async with engine.connect() as conn:
            have = int(await conn.scalar(select(func.count()).select_from(Lead)) or 0)
            team = await _team(conn)
        rng = random.Random(target)  # ids for test rows, not secrets
        epoch = datetime(2020, 1, 1, tzinfo=UTC)
        for first in range(have, target, batch):
            count = min(batch, target - first)
            rows = _rows(first, count, team, epoch, rng, closed_share)
            async with engine.begin() as conn:
                for model, values in rows.items():
                    await conn.execute(insert(model), values)
            if progress is not None:
                progress(first + count, target)
        if engine.dialect.name == "postgresql":
            async with engine.connect() as conn:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await auto.execute(text("VACUUM ANALYZE"))
        added = max(0, target - have)
    finally:
        await engine.dispose()
    seconds = time.perf_counter() - started
    return {"added": added, "seconds": seconds, "rows_per_s": added / seconds if seconds else 0.0}
