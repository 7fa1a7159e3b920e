"""Leads as a table (sortable, filterable, paged) and as a board of status columns.

The manager's day beyond the queue: every lead in scope, not only the open ones,
sorted by any column the table shows and filtered by status, channel, assignee and
the period the lead was created in. The board is the same query once per status,
each column capped. Scoped by who asks (`crm_store.scope`) inside the query, so a
manager never sees another manager's lead. Imports nothing of ours outside `crm_store`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.accounts import Principal
from crm_store.leads import AssigneeView
from crm_store.models import AppUser, Contact, Deal, Lead
from crm_store.scope import lead_scope

STATUSES = ("new", "in_progress", "converted", "junk")
SortKey = Literal[
    "title", "contact", "phone", "channel", "status", "assignee", "created_at", "due", "amount"
]
SORT_KEYS: tuple[str, ...] = get_args(SortKey)


class LeadRow(BaseModel):
    id: uuid.UUID
    title: str
    status: str
    channel: str
    contact_name: str | None
    contact_email: str | None
    contact_phone: str | None
    assignee: AssigneeView | None
    created_at: datetime
    first_contact_due_at: datetime | None
    touched: bool
    amount: float | None


class LeadTablePage(BaseModel):
    items: list[LeadRow]
    total: int


class BoardColumn(BaseModel):
    status: str
    total: int
    items: list[LeadRow]


class Board(BaseModel):
    columns: list[BoardColumn]


@dataclass(frozen=True, slots=True)
class TableFilter:
    """What the table shows: empty `statuses` means every status."""

    statuses: Sequence[str] = ()
    channel: str | None = None
    assignee_id: int | None = None
    created_from: datetime | None = None
    created_before: datetime | None = None


def _amounts() -> Any:
    return (
        select(Deal.lead_id, func.max(Deal.amount).label("amount"))
        .where(Deal.lead_id.is_not(None))
        .group_by(Deal.lead_id)
        .subquery()
    )


def _order(key: str, amount: Any) -> ColumnElement[Any]:
    contact = func.coalesce(Contact.name, Contact.email, Contact.phone)
    columns: dict[str, Any] = {
        "title": func.lower(Lead.title),
        "contact": func.lower(contact),
        "phone": Contact.phone,
        "channel": Lead.channel,
        "status": Lead.status,
        "assignee": func.lower(AppUser.name),
        "created_at": Lead.created_at,
        "due": Lead.first_contact_due_at,
        "amount": amount.c.amount,
    }
    return columns[key]  # type: ignore[no-any-return]


async def lead_table(
    session: AsyncSession,
    who: Principal,
    wanted: TableFilter,
    *,
    sort: str = "-created_at",
    limit: int = 50,
    offset: int = 0,
) -> LeadTablePage:
    """One page of the leads `who` may see; `sort` is a key, `-` first for descending.
    Empty values sort last either way, and the lead id breaks ties, so paging is stable."""
    descending = sort.startswith("-")
    key = sort.removeprefix("-")
    if key not in SORT_KEYS:
        raise ValueError(f"cannot sort by {key!r}")
    amount = _amounts()
    stmt = (
        select(Lead, Contact, AppUser, amount.c.amount)
        .outerjoin(Contact, Contact.id == Lead.contact_id)
        .outerjoin(AppUser, AppUser.id == Lead.assignee_id)
        .outerjoin(amount, amount.c.lead_id == Lead.id)
        .where(lead_scope(who))
    )
    if wanted.statuses:
        stmt = stmt.where(Lead.status.in_(list(wanted.statuses)))
    if wanted.channel:
        stmt = stmt.where(Lead.channel == wanted.channel)
    if wanted.assignee_id is not None:
        stmt = stmt.where(Lead.assignee_id == wanted.assignee_id)
    if wanted.created_from is not None:
        stmt = stmt.where(Lead.created_at >= wanted.created_from)
    if wanted.created_before is not None:
        stmt = stmt.where(Lead.created_at < wanted.created_before)
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    column = _order(key, amount)
    ordered = column.desc().nulls_last() if descending else column.asc().nulls_last()
    tie = Lead.created_at.desc() if key != "created_at" else Lead.id
    rows = (
        await session.execute(stmt.order_by(ordered, tie, Lead.id).limit(limit).offset(offset))
    ).all()
    return LeadTablePage(items=[_row(*row) for row in rows], total=total)


def _row(lead: Lead, contact: Contact | None, user: AppUser | None, amount: Any) -> LeadRow:
    return LeadRow(
        id=lead.id,
        title=lead.title,
        status=lead.status,
        channel=lead.channel,
        contact_name=contact.name if contact else None,
        contact_email=contact.email if contact else None,
        contact_phone=contact.phone if contact else None,
        assignee=AssigneeView(id=user.id, name=user.name) if user else None,
        created_at=lead.created_at,
        first_contact_due_at=lead.first_contact_due_at,
        touched=bool(lead.manager_touched),
        amount=float(amount) if amount is not None else None,
    )


async def board(
    session: AsyncSession, who: Principal, wanted: TableFilter, *, per_column: int = 50
) -> Board:
    """A column per status, each the soonest first-contact deadlines first (then newest),
    at most `per_column` cards; `total` says how many the column holds."""
    columns = []
    for status in STATUSES:
        only = TableFilter(
            (status,),
            wanted.channel,
            wanted.assignee_id,
            wanted.created_from,
            wanted.created_before,
        )
        sort = "due" if status in ("new", "in_progress") else "-created_at"
        page = await lead_table(session, who, only, sort=sort, limit=per_column)
        columns.append(BoardColumn(status=status, total=page.total, items=page.items))
    return Board(columns=columns)
