"""The leads table (`/leads`) and the board by status (`/leads/board`).

Both read through the store query of `GET /api/v1/lead-table` (`crm_store.lead_table`),
scoped by who asks: a manager sees their own leads, a head their teams', an admin
all. The table sorts by the column header a person clicks and pages on the server;
the board moves a card by `POST /api/v1/leads/{id}/status` from `static/leads.js`
(drag and drop, or the card's own select on a phone), so the API's rules decide
and a refused move goes back. Pages speak the viewer's language and zone through
`WebPages.render`. Imports `crm_store` and `console` helpers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from pydantic import ValidationError

from console import display
from console.auth import Authenticator
from console.guard import guard
from console.http import Auth
from console.lead_api import TableQuery, day_bounds
from crm_store import lead_table, people
from crm_store.database import Database
from crm_store.lead_table import STATUSES, TableFilter

Render = Callable[..., web.Response]
Page = Callable[[web.Request, Auth], Awaitable[web.StreamResponse]]
PAGE_SIZE = 50
BOARD_CARDS = 50
FILTER_KEYS = ("status", "channel", "assignee_id", "from", "to", "sort", "offset")


def table_query(params: dict[str, str], *, board: bool = False) -> TableQuery:
    """The page's filters; anything not valid is dropped rather than refused."""
    wanted = {k: v for k, v in params.items() if v and k in FILTER_KEYS}
    if board:
        wanted.pop("status", None)
    for key in list(wanted):
        try:
            TableQuery.model_validate({key: wanted[key]})
        except ValidationError:
            del wanted[key]
    query = TableQuery.model_validate({**wanted, "limit": PAGE_SIZE})
    if query.start and query.end and query.start > query.end:
        query = query.model_copy(update={"end": None})
    return query


def link(base: str, q: TableQuery, **changes: Any) -> str:
    """The page's address with the current filters and `changes` (None drops one)."""
    params: dict[str, Any] = q.model_dump(by_alias=True, exclude_none=True, exclude={"limit"})
    params.update(changes)
    kept = {k: str(v) for k, v in params.items() if v is not None and v != ""}
    if kept.get("sort") == "-created_at":
        del kept["sort"]
    if kept.get("offset") == "0":
        del kept["offset"]
    return base + ("?" + urlencode(kept) if kept else "")


def sort_link(q: TableQuery, key: str) -> tuple[str, str]:
    """(address, aria-sort) of a column header: a click sorts by it, a second click
    reverses; dates and amounts start with the largest, text from A."""
    current = q.sort.removeprefix("-")
    descending = q.sort.startswith("-")
    if current == key:
        wanted = key if descending else f"-{key}"
        state = "descending" if descending else "ascending"
    else:
        wanted = f"-{key}" if key in ("created_at", "amount") else key
        state = "none"
    return link("/leads", q, sort=wanted, offset=None), state


class LeadViewPages:
    def __init__(self, db: Database, authenticator: Authenticator, render: Render) -> None:
        self._db = db
        self._auth = authenticator
        self._render = render

    def routes(self) -> list[web.RouteDef]:
        # Before `/leads/{lead_id}`: "board" is a page, not a lead's id.
        return [
            web.get("/leads", guard(self._auth, self._render, self.table_page)),
            web.get("/leads/board", guard(self._auth, self._render, self.board_page)),
        ]

    async def _context(self, auth: Auth, q: TableQuery) -> dict[str, Any]:
        start, before = day_bounds(q.start, q.end, display.zone(auth.who.timezone))
        wanted = TableFilter(
            (q.status,) if q.status else (), q.channel, q.assignee_id, start, before
        )
        assignees = []
        if auth.who.role != "manager":
            async with self._db.sessions() as session:
                users = await people.list_users(session)
            assignees = [u for u in users if u.active and u.role != "admin"]
        return {"auth": auth, "query": q, "wanted": wanted, "assignees": assignees,
                "now": datetime.now(UTC), "statuses": STATUSES}  # fmt: skip

    async def table_page(self, request: web.Request, auth: Auth) -> web.StreamResponse:
        q = table_query(dict(request.query))
        context = await self._context(auth, q)
        async with self._db.sessions() as session:
            page = await lead_table.lead_table(
                session, auth.who, context["wanted"], sort=q.sort, limit=q.limit, offset=q.offset
            )
        more = q.offset + q.limit < page.total
        return self._render(
            request,
            "leads_table.html",
            page=page,
            sort_link=lambda key: sort_link(q, key),
            next_page=link("/leads", q, offset=q.offset + q.limit) if more else "",
            prev_page=link("/leads", q, offset=max(0, q.offset - q.limit)) if q.offset else "",
            board_link=link("/leads/board", q, status=None, sort=None, offset=None),
            **context,
        )

    async def board_page(self, request: web.Request, auth: Auth) -> web.StreamResponse:
        q = table_query(dict(request.query), board=True)
        context = await self._context(auth, q)
        async with self._db.sessions() as session:
            columns = await lead_table.board(
                session, auth.who, context["wanted"], per_column=BOARD_CARDS
            )
        return self._render(
            request,
            "leads_board.html",
            board=columns,
            table_link=link("/leads", q, sort=None, offset=None),
            column_link=lambda status: link("/leads", q, status=status, sort=None, offset=None),
            **context,
        )
