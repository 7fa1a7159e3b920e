"""Report endpoints: per manager and per team over a period, as JSON or CSV.

The period is whole UTC days, `from` to `to` included (default: the last 30 days).
Scoping is the store's (`crm_store.scope`): a manager's report holds only their own
leads, a head's their teams'. CSV cells that a spreadsheet would read as a formula
are prefixed with an apostrophe. Imports `crm_store` and `console` helpers only.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta

from aiohttp import web

from console.http import ApiError, Call, Endpoint, collect, route
from console.schemas import ReportQuery
from crm_store import reports
from crm_store.database import Database
from crm_store.reports import Report

DEFAULT_DAYS = 30
MAX_DAYS = 366
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def period(query: ReportQuery, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) in UTC for the query's days; 422 when reversed or too long."""
    last = query.end or now.date()
    first = query.start or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ApiError(422, "from must not be after to.", errors={"from": "after to"})
    if (last - first).days >= MAX_DAYS:
        raise ApiError(422, f"A report spans at most {MAX_DAYS} days.", errors={"to": "too far"})
    return _midnight(first), _midnight(last + timedelta(days=1))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def safe_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value


class ReportEndpoints:
    def __init__(self, db: Database) -> None:
        self._db = db

    def endpoints(self) -> list[Endpoint]:
        return collect(self, tag="reports")

    async def build(self, call: Call) -> Report:
        q = call.query_as(ReportQuery)
        start, end = period(q, call.now)
        async with self._db.sessions() as session:
            return await reports.report(
                session,
                call.who,
                start=start,
                end=end,
                now=call.now,
                team_id=q.team_id,
                user_id=q.user_id,
            )

    @route(
        "GET",
        "/api/v1/reports",
        "Per manager and per team: received by channel, first response, SLA, outcomes",
        query=ReportQuery,
        response=Report,
    )
    async def report(self, call: Call) -> Report:
        return await self.build(call)

    @route(
        "GET",
        "/api/v1/reports.csv",
        "The same report as CSV",
        query=ReportQuery,
        response=str,
        produces="text/csv",
    )
    async def report_csv(self, call: Call) -> web.Response:
        rep = await self.build(call)
        out = io.StringIO()
        writer = csv.writer(out)
        for row in reports.csv_rows(rep):
            writer.writerow([safe_cell(cell) for cell in row])
        name = f"leadflow-report-{rep.start.date()}-{(rep.end - timedelta(days=1)).date()}.csv"
        return web.Response(
            text=out.getvalue(),
            content_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
