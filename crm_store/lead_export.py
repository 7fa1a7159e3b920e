"""The leads themselves, one row each, for a spreadsheet export.

The leads created in [start, end) that `who` may see (`crm_store.scope`: a manager
only their own, a head their teams'), oldest first, with their contact, company,
assignee, team and the first-contact deadline. Returns plain dataclasses. Imports
nothing of ours outside `crm_store`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.accounts import Principal
from crm_store.models import AppUser, Company, Contact, Lead, Team
from crm_store.scope import lead_scope

# A guard for the size of one download, far above a year of a big team's leads.
MAX_ROWS = 200_000


@dataclass(frozen=True, slots=True)
class LeadExportRow:
    id: uuid.UUID
    created_at: datetime
    status: str
    channel: str
    title: str
    contact_name: str | None
    contact_email: str | None
    contact_phone: str | None
    company: str | None
    assignee: str | None
    team: str | None
    first_contact_due_at: datetime | None
    junk_reason: str | None


async def lead_rows(
    session: AsyncSession,
    who: Principal,
    *,
    start: datetime,
    end: datetime,
    team_id: int | None = None,
    user_id: int | None = None,
    limit: int = MAX_ROWS,
) -> list[LeadExportRow]:
    query = (
        select(
            Lead.id,
            Lead.created_at,
            Lead.status,
            Lead.channel,
            Lead.title,
            Contact.name.label("contact_name"),
            Contact.email.label("contact_email"),
            Contact.phone.label("contact_phone"),
            Company.name.label("company"),
            AppUser.name.label("assignee"),
            Team.name.label("team"),
            Lead.first_contact_due_at,
            Lead.junk_reason,
        )
        .outerjoin(Contact, Contact.id == Lead.contact_id)
        .outerjoin(Company, Company.id == Contact.company_id)
        .outerjoin(AppUser, AppUser.id == Lead.assignee_id)
        .outerjoin(Team, Team.id == Lead.team_id)
        .where(lead_scope(who), Lead.created_at >= start, Lead.created_at < end)
        .order_by(Lead.created_at, Lead.id)
        .limit(limit)
    )
    if team_id is not None:
        query = query.where(Lead.team_id == team_id)
    if user_id is not None:
        query = query.where(Lead.assignee_id == user_id)
    return [LeadExportRow(**row._asdict()) for row in (await session.execute(query)).all()]
