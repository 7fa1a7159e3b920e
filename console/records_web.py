"""The contact, company and deal pages (`/contacts/{id}`, `/companies/{id}`, `/deals/{id}`).

Each reads through the same scoped store query as its `GET /api/v1/...` endpoint
(`console.records`), so a record the viewer may not see is a 404 page here as it is
a 404 there. The deal page's form changes the amount and stage through
`PATCH /api/v1/deals/{id}` (`static/app.js` sends it as JSON with the session's
CSRF token). Pages speak the viewer's language and show times in their zone
(`WebPages.render`). Imports `crm_store`, `console` helpers and `ingest.contract.i18n`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web

from console.auth import Authenticator
from console.guard import guard
from console.http import Auth
from console.records import NO_COMPANY, NO_CONTACT, NO_DEAL
from crm_store import deals, parties
from crm_store.database import Database

Render = Callable[..., web.Response]
Page = Callable[[web.Request, Auth], Awaitable[web.StreamResponse]]


def _id(request: web.Request, name: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        return None


class RecordPages:
    def __init__(self, db: Database, authenticator: Authenticator, render: Render) -> None:
        self._db = db
        self._auth = authenticator
        self._render = render

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/contacts/{contact_id}", guard(self._auth, self._render, self.contact_page)),
            web.get("/companies/{company_id}", guard(self._auth, self._render, self.company_page)),
            web.get("/deals/{deal_id}", guard(self._auth, self._render, self.deal_page)),
        ]

    def _missing(self, request: web.Request, auth: Auth, message: str) -> web.Response:
        return self._render(request, "error.html", 404, auth=auth, message=message)

    async def contact_page(self, request: web.Request, auth: Auth) -> web.StreamResponse:
        contact_id = _id(request, "contact_id")
        async with self._db.sessions() as session:
            found = (
                await parties.contact_record(session, auth.who, contact_id) if contact_id else None
            )
        if found is None:
            return self._missing(request, auth, NO_CONTACT)
        now = datetime.now(UTC)
        return self._render(request, "contact.html", auth=auth, contact=found, now=now)

    async def company_page(self, request: web.Request, auth: Auth) -> web.StreamResponse:
        company_id = _id(request, "company_id")
        async with self._db.sessions() as session:
            found = (
                await parties.company_record(session, auth.who, company_id) if company_id else None
            )
        if found is None:
            return self._missing(request, auth, NO_COMPANY)
        return self._render(request, "company.html", auth=auth, company=found)

    async def deal_page(self, request: web.Request, auth: Auth) -> web.StreamResponse:
        deal_id = _id(request, "deal_id")
        async with self._db.sessions() as session:
            found = await deals.deal_record(session, auth.who, deal_id) if deal_id else None
        if found is None:
            return self._missing(request, auth, NO_DEAL)
        now = datetime.now(UTC)
        return self._render(
            request, "deal.html", auth=auth, deal=found, stages=deals.STAGES, now=now
        )
