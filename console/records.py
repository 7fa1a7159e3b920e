"""Contact, company and deal endpoints: read each one, and change a deal's amount and stage.

`GET /api/v1/contacts/{contact_id}`, `/api/v1/companies/{company_id}` and
`/api/v1/deals/{deal_id}` answer what the pages show; `PATCH /api/v1/deals/{deal_id}`
takes a stage and/or an amount (422 naming the field when either is not valid).
Scoped by the caller like every console query (`crm_store.scope`): what they may
not see is a 404, for reading and for changing. Imports `crm_store` and `console`
helpers.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Literal, TypeVar

from pydantic import Field, field_validator, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from console.http import ApiError, Call, Endpoint, collect, route
from console.schemas import Strict
from crm_store import deals, parties
from crm_store.accounts import Principal
from crm_store.database import Database
from crm_store.deals import DealChange, DealRecord
from crm_store.parties import CompanyRecord, ContactRecord
from ingest.contract.i18n import N_

Stage = Literal["new", "qualification", "proposal", "negotiation", "won", "lost"]
MAX_AMOUNT = 1e12  # the column holds 12 digits before the decimal mark


class DealPatch(Strict):
    stage: Stage | None = Field(
        default=None, description="won and lost close the deal; an open stage reopens it."
    )
    amount: float | None = Field(
        default=None,
        ge=0,
        lt=MAX_AMOUNT,
        allow_inf_nan=False,
        description="In the deployment's currency, at most 2 decimals; null clears it.",
    )

    @field_validator("stage")
    @classmethod
    def _present(cls, value: str | None) -> str | None:
        if value is None:  # only when sent: an absent stage keeps the deal's
            raise ValueError("a deal always has a stage: give one or leave it out")
        return value

    @field_validator("amount")
    @classmethod
    def _cents(cls, value: float | None) -> float | None:
        if value is not None and Decimal(str(value)).as_tuple().exponent < -2:  # type: ignore[operator]
            raise ValueError("must have at most 2 decimal places")
        return value

    @model_validator(mode="after")
    def _something(self) -> DealPatch:
        if not self.model_fields_set & {"stage", "amount"}:
            raise ValueError("give a stage, an amount, or both")
        return self


def _uuid(call: Call, name: str, missing: str) -> uuid.UUID:
    try:
        return uuid.UUID(call.request.match_info[name])
    except ValueError:
        raise ApiError(404, missing) from None


R = TypeVar("R")
# A scoped read by id: None when it does not exist or the caller may not see it.
Reader = Callable[[AsyncSession, Principal, uuid.UUID], Awaitable[R | None]]


NO_CONTACT = N_("There is no contact with this id.")
NO_COMPANY = N_("There is no company with this id.")
NO_DEAL = N_("There is no deal with this id.")


class RecordEndpoints:
    def __init__(self, db: Database) -> None:
        self._db = db

    def endpoints(self) -> list[Endpoint]:
        return collect(self, tag="records")

    async def _read(self, call: Call, name: str, missing: str, reader: Reader[R]) -> R:
        """One record by the id in the path; unknown, malformed or out of scope is a 404."""
        record_id = _uuid(call, name, missing)
        async with self._db.sessions() as session:
            found = await reader(session, call.who, record_id)
        if found is None:
            raise ApiError(404, missing)
        return found

    @route(
        "GET",
        "/api/v1/contacts/{contact_id}",
        "A contact: how to reach them, company, leads, deals and activities",
        response=ContactRecord,
    )
    async def get_contact(self, call: Call) -> ContactRecord:
        return await self._read(call, "contact_id", NO_CONTACT, parties.contact_record)

    @route(
        "GET",
        "/api/v1/companies/{company_id}",
        "A company: contacts, leads, deals and the amount of its open deals",
        response=CompanyRecord,
    )
    async def get_company(self, call: Call) -> CompanyRecord:
        return await self._read(call, "company_id", NO_COMPANY, parties.company_record)

    @route(
        "GET",
        "/api/v1/deals/{deal_id}",
        "A deal: amount, stage, contact, company, originating lead and activities",
        response=DealRecord,
    )
    async def get_deal(self, call: Call) -> DealRecord:
        return await self._read(call, "deal_id", NO_DEAL, deals.deal_record)

    @route(
        "PATCH",
        "/api/v1/deals/{deal_id}",
        "Change a deal's stage and/or amount",
        body=DealPatch,
        response=DealRecord,
    )
    async def change_deal(self, call: Call) -> DealRecord:
        deal_id = _uuid(call, "deal_id", NO_DEAL)
        body = call.body_as(DealPatch)
        change = DealChange(
            stage=body.stage,
            amount=body.amount,
            amount_given="amount" in body.model_fields_set,
        )
        async with self._db.sessions() as session:
            async with session.begin():
                changed = await deals.change_deal(session, call.who, deal_id, change, call.now)
            found = await deals.deal_record(session, call.who, deal_id) if changed else None
        if found is None:
            raise ApiError(404, NO_DEAL)
        return found
