"""The head's control: reassigning leads in bulk, and the live team board (`/team`).

`POST /api/v1/leads/reassign` gives up to 500 selected leads to one active manager
with a reason (`crm_store.reassignment`: ledger, events, notices, counters).
`GET /api/v1/team` is the board's data: one row per manager with the counters, the
load against capacity, today's first contacts kept and missed (the viewer's day, in
their zone) and whether they are absent or off hours now. The `/team` page renders
the same rows and `static/team.js` polls the endpoint to update them in place and
keep them sorted. Heads and admins only: a manager gets a 403. Imports `crm_store`,
`console` helpers, `ingest.worktime` and `ingest.contract.i18n`.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from console import display
from console.auth import Authenticator
from console.field_sentences import Sentence
from console.guard import HEADS, guard
from console.http import ApiError, Auth, Call, Endpoint, collect, route
from console.schemas import Id, Strict, Text
from crm_store import board, reassignment
from crm_store.board import BoardRow
from crm_store.database import Database
from crm_store.reassignment import MAX_LEADS, TargetRefused
from ingest.contract.i18n import N_
from ingest.worktime import WeeklyHours, is_working

Render = Callable[..., web.Response]
State = Literal["working", "off_hours", "absent", "inactive"]
STATES: dict[str, str] = {
    "working": N_("working"),
    "off_hours": N_("off hours"),
    "absent": N_("absent"),
    "inactive": N_("deactivated"),
}
# The store's refusals, marked here so the catalogs translate them where shown.
_STORE_SENTENCES = (
    N_("Leads go to a manager: this person is not one."),
    N_("This manager is inactive and cannot take leads."),
    N_("This manager is not in a team you head."),
    N_("Some of these leads do not exist or are not yours to reassign."),
    N_("Only new and in-progress leads can be reassigned; unselect the converted or junk ones."),
)


class ReassignBody(Strict):
    lead_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=MAX_LEADS)]
    manager_id: Id
    reason: Text


class ReassignedView(BaseModel):
    moved: list[uuid.UUID]
    unchanged: list[uuid.UUID]
    manager_id: int
    manager_name: str


class BoardEntry(BoardRow):
    state: State
    load_pct: int | None


class BoardView(BaseModel):
    version: str
    day_start: datetime
    day_end: datetime
    rows: list[BoardEntry]


def today(now: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """The viewer's calendar day around `now` as a UTC interval (23 or 25 hours at DST)."""
    local = now.astimezone(tz).date()
    start = datetime.combine(local, time(0), tz)
    end = datetime.combine(local + timedelta(days=1), time(0), tz)
    return start, end


def state_of(row: BoardRow, now: datetime) -> State:
    if not row.active:
        return "inactive"
    if row.absent:
        return "absent"
    try:
        hours = (
            WeeklyHours.from_mapping(row.working_hours)
            if row.working_hours is not None
            else WeeklyHours.always()
        )
        working = is_working(hours, display.zone(row.timezone), now)
    except ValueError:
        working = True  # hours the routing cannot read either: not shown as away
    return "working" if working else "off_hours"


def entry(row: BoardRow, now: datetime) -> BoardEntry:
    load = round(100 * row.open_leads / row.capacity) if row.capacity else None
    return BoardEntry(**row.model_dump(), state=state_of(row, now), load_pct=load)


async def board_view(db: Database, auth: Auth, now: datetime) -> BoardView:
    start, end = today(now, display.zone(auth.who.timezone))
    async with db.sessions() as session:
        rows = await board.board(session, auth.who, now=now, day_start=start, day_end=end)
    entries = [entry(r, now) for r in rows]
    basis = "".join(e.model_dump_json() for e in entries)
    version = hashlib.sha256(basis.encode()).hexdigest()[:16]
    return BoardView(version=version, day_start=start, day_end=end, rows=entries)


class TeamEndpoints:
    def __init__(self, db: Database) -> None:
        self._db = db

    def endpoints(self) -> list[Endpoint]:
        return collect(self, tag="team", access="head")

    @route(
        "POST",
        "/api/v1/leads/reassign",
        "Reassign up to 500 open leads to an active manager, with a reason (heads, admins)",
        body=ReassignBody,
        response=ReassignedView,
    )
    async def reassign(self, call: Call) -> ReassignedView:
        body = call.body_as(ReassignBody)
        try:
            async with self._db.sessions() as session, session.begin():
                done = await reassignment.reassign(
                    session,
                    call.who,
                    body.lead_ids,
                    manager_id=body.manager_id,
                    reason=body.reason,
                    now=call.now,
                )
        except TargetRefused as exc:
            raise ApiError(422, str(exc), errors={"manager_id": Sentence(str(exc))}) from None
        return ReassignedView(
            moved=done.moved,
            unchanged=done.unchanged,
            manager_id=done.manager_id,
            manager_name=done.manager_name,
        )

    @route(
        "GET",
        "/api/v1/team",
        "The team board: per manager counters, load, today's SLA and presence",
        response=BoardView,
    )
    async def team(self, call: Call) -> BoardView:
        assert call.auth is not None  # access "head" let no anonymous call through
        return await board_view(self._db, call.auth, call.now)


class TeamPages:
    def __init__(self, db: Database, authenticator: Authenticator, render: Render) -> None:
        self._db = db
        self._auth = authenticator
        self._render = render

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/team", guard(self._auth, self._render, self.team_page, HEADS))]

    async def team_page(self, request: web.Request, auth: Auth) -> web.StreamResponse:
        now = datetime.now(UTC)
        view = await board_view(self._db, auth, now)
        context: dict[str, Any] = {"auth": auth, "board": view, "states": STATES, "now": now}
        return self._render(request, "team.html", **context)
