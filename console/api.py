"""The console's REST API (read side for now): `/api/v1/leads` with bearer tokens.

Scoping by role happens in `crm_store.leads`; this module parses, authenticates and
answers problem+json. Imports `crm_store` and `ingest.contract`, never a connector.
"""

from __future__ import annotations

import uuid

from aiohttp import web

from crm_store import accounts, leads
from crm_store.accounts import Principal
from crm_store.database import Database
from ingest.contract.problem import problem

MAX_PAGE = 200
_STATUSES = ("new", "in_progress", "converted", "junk")


class ConsoleApi:
    def __init__(self, db: Database) -> None:
        self._db = db

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/v1/leads", self.list_leads),
            web.get("/api/v1/leads/{lead_id}", self.get_lead),
        ]

    async def _principal(self, request: web.Request) -> Principal | web.Response:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return problem(
                401,
                "Send an API token as 'Authorization: Bearer <token>'.",
                headers={"WWW-Authenticate": 'Bearer realm="leadflow"'},
            )
        async with self._db.sessions() as session:
            who = await accounts.principal_for_token(session, token.strip())
        if who is None:
            return problem(
                401,
                "This API token is not valid or was revoked.",
                headers={"WWW-Authenticate": 'Bearer realm="leadflow", error="invalid_token"'},
            )
        return who

    async def list_leads(self, request: web.Request) -> web.StreamResponse:
        who = await self._principal(request)
        if isinstance(who, web.Response):
            return who
        q = request.query
        try:
            limit = int(q.get("limit", "50"))
            offset = int(q.get("offset", "0"))
            assignee = int(q["assignee_id"]) if q.get("assignee_id") else None
        except ValueError:
            return problem(422, "limit, offset and assignee_id must be whole numbers.")
        if not 1 <= limit <= MAX_PAGE or offset < 0:
            return problem(422, f"limit must be between 1 and {MAX_PAGE}, offset at least 0.")
        status = q.get("status")
        if status and status not in _STATUSES:
            return problem(422, f"status must be one of {', '.join(_STATUSES)}.")
        async with self._db.sessions() as session:
            page = await leads.list_leads(
                session,
                who,
                status=status,
                assignee_id=assignee,
                contact_email=q.get("contact_email"),
                limit=limit,
                offset=offset,
            )
        return web.json_response(text=page.model_dump_json())

    async def get_lead(self, request: web.Request) -> web.StreamResponse:
        who = await self._principal(request)
        if isinstance(who, web.Response):
            return who
        try:
            lead_id = uuid.UUID(request.match_info["lead_id"])
        except ValueError:
            return problem(404, "There is no lead with this id.")
        async with self._db.sessions() as session:
            view = await leads.get_lead(session, who, lead_id)
        if view is None:
            return problem(404, "There is no lead with this id.")
        return web.json_response(text=view.model_dump_json())
