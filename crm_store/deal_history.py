"""A deal's changes of stage and amount, with who made them.

Each change is a `deal.changed` row of `lead_event` on the deal's lead (payload:
`deal_id`, `by`, and `changes` as {"stage": [from, to], "amount": [from, to]}), so
it shows in the lead's history (`crm_store.history`) with no table of its own and
goes out with the lead's other events. A deal made without a lead has no history
yet (it would need a table of its own). Imports nothing of ours outside `crm_store`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.accounts import Principal
from crm_store.models import AppUser, Deal, LeadEvent

DEAL_CHANGED = "deal.changed"


class DealChangeItem(BaseModel):
    at: datetime
    by: str | None
    changes: dict[str, list[str | None]]


def _shown(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal | float):
        return f"{Decimal(str(value)):.2f}"  # an amount as the form shows it: 1500.00
    return str(value)


def record_deal_change(
    session: AsyncSession,
    deal: Deal,
    who: Principal,
    before: dict[str, object],
    now: datetime,
) -> None:
    """Add a `deal.changed` event when `deal` differs from `before` (stage, amount)."""
    changes = {
        field: [_shown(old), _shown(getattr(deal, field))]
        for field, old in before.items()
        if _shown(old) != _shown(getattr(deal, field))
    }
    if not changes or deal.lead_id is None:
        return
    session.add(
        LeadEvent(
            id=uuid.uuid4(),
            lead_id=deal.lead_id,
            type=DEAL_CHANGED,
            payload={
                "type": DEAL_CHANGED,
                "lead_id": str(deal.lead_id),
                "deal_id": str(deal.id),
                "at": now.isoformat(),
                "by": who.user_id,
                "changes": changes,
            },
            created_at=now,
            published_at=None,
        )
    )


async def deal_changes(session: AsyncSession, deal: Deal) -> list[DealChangeItem]:
    """The deal's recorded changes, newest first (the caller has checked its scope)."""
    if deal.lead_id is None:
        return []
    events = [
        e
        for e in await session.scalars(
            select(LeadEvent).where(
                LeadEvent.lead_id == deal.lead_id, LeadEvent.type == DEAL_CHANGED
            )
        )
        if (e.payload or {}).get("deal_id") == str(deal.id)
    ]
    ids = {by for e in events if isinstance(by := e.payload.get("by"), int)}
    names: dict[int, str] = {}
    if ids:
        rows = await session.execute(select(AppUser.id, AppUser.name).where(AppUser.id.in_(ids)))
        names = {int(k): str(v) for k, v in rows.all()}
    items = [
        DealChangeItem(
            at=e.created_at,
            by=names.get(e.payload.get("by", -1)),
            changes={
                str(k): [_text(v[0]), _text(v[1])]
                for k, v in (e.payload.get("changes") or {}).items()
                if isinstance(v, list) and len(v) == 2
            },
        )
        for e in events
    ]
    items.sort(key=lambda item: item.at, reverse=True)
    return items


def _text(value: object) -> str | None:
    return None if value is None else str(value)
