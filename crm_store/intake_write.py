"""The ingest consumer's batched write: every row of a batch, in one transaction.

`IntakeRows` is what `ingest.records` plans from a batch's decisions; `write_intake`
inserts it (parents before children: `multi_insert`, one statement per group of
tables on PostgreSQL), touches the leads it appends to and moves the teams'
round-robin cursors. The reads before it are `crm_store.intake`'s. Imports nothing of
ours outside `crm_store`.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store import core, multi_insert
from crm_store.intake import find_companies
from crm_store.models import (
    Activity,
    AssignmentLedger,
    Base,
    Company,
    Contact,
    ContactIdentity,
    InquiryRecord,
    Lead,
    LeadEvent,
    MessageRef,
    OutboundRecord,
    OutboxTicket,
    SpamMark,
    Team,
)
from crm_store.multi_insert import TableRows


@dataclass(slots=True)
class IntakeRows:
    """Rows to insert in one transaction, as column-name dicts."""

    companies: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    identities: list[dict[str, Any]] = field(default_factory=list)
    leads: list[dict[str, Any]] = field(default_factory=list)
    activities: list[dict[str, Any]] = field(default_factory=list)
    inquiries: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    message_refs: list[dict[str, Any]] = field(default_factory=list)
    outbound: list[dict[str, Any]] = field(default_factory=list)
    spam_marks: list[dict[str, Any]] = field(default_factory=list)
    touched_leads: dict[uuid.UUID, datetime] = field(default_factory=dict)
    team_cursors: dict[int, int | None] = field(default_factory=dict)
    team_rotation: dict[int, dict[str, Any]] = field(default_factory=dict)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    # The batch's outbox ticket (`outbox.ticket_row`), if it has outbox rows.
    tickets: list[dict[str, Any]] = field(default_factory=list)


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


async def write_intake(session: AsyncSession, rows: IntakeRows) -> None:
    """Insert a batch's rows, parents before children, and move the cursors."""
    if rows.companies:
        await _reuse_known_companies(session, rows)
    # Leads that already exist are locked first, before any insert takes a member's
    # load row (triggers, migration 0019): a console edit holds its lead and then
    # waits for its member's row, so taking them in the other order could deadlock.
    new_leads = {r["id"] for r in rows.leads}
    await _touch(session, {k: at for k, at in rows.touched_leads.items() if k not in new_leads})
    # A Message-ID may come back (a forwarded copy, a re-import): first one wins, in
    # the batch (the dict) and against the store (ON CONFLICT, not a read first).
    first: dict[str, dict[str, Any]] = {}
    for r in rows.message_refs:
        first.setdefault(r["message_id"], r)
    # Parents before children, for the stores that insert one table at a time; on
    # PostgreSQL one statement per call (multi_insert), each table's rows as arrays,
    # without SQLAlchemy's per-row work (bulk_insert; both issue 11). Two calls:
    # activity's BEFORE INSERT trigger (migration 0014) reads its lead's status, and a
    # lead inserted by the same statement is not visible to it yet.
    await multi_insert.insert_tables(
        session,
        [
            TableRows(_table(Company), rows.companies),
            TableRows(_table(Contact), rows.contacts),
            TableRows(_table(ContactIdentity), rows.identities),
            TableRows(_table(Lead), rows.leads),
        ],
    )
    await multi_insert.insert_tables(
        session,
        [
            TableRows(_table(Activity), rows.activities),
            TableRows(_table(InquiryRecord), rows.inquiries),
            TableRows(_table(LeadEvent), rows.events),
            TableRows(_table(OutboundRecord), rows.outbound),
            TableRows(_table(SpamMark), rows.spam_marks),
            TableRows(_table(MessageRef), list(first.values()), skip_existing=True),
            TableRows(_table(AssignmentLedger), rows.ledger),
            TableRows(_table(OutboxTicket), rows.tickets),
        ],
    )
    await _touch(session, {k: at for k, at in rows.touched_leads.items() if k in new_leads})
    for team_id in rows.team_cursors.keys() | rows.team_rotation.keys():
        changes: dict[str, Any] = {}
        if team_id in rows.team_cursors:
            changes["rr_last_user_id"] = rows.team_cursors[team_id]
        if team_id in rows.team_rotation:
            changes["rotation_state"] = rows.team_rotation[team_id]
        params = {f"new_{column}": value for column, value in changes.items()}
        await core.execute(
            session, _team_update(tuple(sorted(changes))), {"team": team_id, **params}
        )


@functools.cache
def _team_update(columns: tuple[str, ...]) -> Any:
    # Built once per set of columns, like `crm_store.intake`'s reads (issue 11).
    return (
        update(Team)
        .where(Team.id == bindparam("team"))
        .values({column: bindparam(f"new_{column}") for column in columns})
        # The batch's session holds no Team objects to keep in step.
        .execution_options(synchronize_session=False)
    )


_TOUCH = (
    update(Lead)
    .where(Lead.id == bindparam("lead"))
    .values(updated_at=bindparam("at"))
    .execution_options(synchronize_session=False)
)


async def _touch(session: AsyncSession, leads: dict[uuid.UUID, datetime]) -> None:
    for lead_id, at in leads.items():
        await session.execute(_TOUCH, {"lead": lead_id, "at": at})


async def _reuse_known_companies(session: AsyncSession, rows: IntakeRows) -> None:
    """A company whose domain is already stored (made by another process or by a
    manager meanwhile) is reused: its new row is dropped and contacts point at it."""
    known = await find_companies(session, {c["domain"] for c in rows.companies})
    if not known:
        return
    remap = {c["id"]: known[c["domain"]] for c in rows.companies if c["domain"] in known}
    rows.companies = [c for c in rows.companies if c["domain"] not in known]
    for contact in rows.contacts:
        if contact.get("company_id") in remap:
            contact["company_id"] = remap[contact["company_id"]]
