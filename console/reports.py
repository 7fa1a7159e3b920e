"""Report endpoints: per manager and per team over a period, as JSON or CSV, and
the leads themselves as CSV or XLSX.

The period is whole UTC days, `from` to `to` included (default: the last 30 days,
at most two years). Scoping is the store's (`crm_store.scope`): a manager's report
and export hold only their own leads, a head's their teams'. Files are made by
`console.spreadsheet` (a BOM and `;` for Excel in comma-decimal regions; formula
cells defused). Imports `crm_store` and `console` helpers only.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from aiohttp import web

from console import display
from console.field_sentences import Sentence
from console.http import ApiError, Call, Endpoint, collect, route
from console.schemas import ExportQuery, ReportQuery
from console.spreadsheet import XLSX_TYPE, Cell, csv_bytes, default_delimiter, xlsx_bytes
from crm_store import lead_export, reports
from crm_store.database import Database
from crm_store.lead_export import LeadExportRow
from crm_store.reports import Report
from ingest.contract.i18n import N_

DEFAULT_DAYS = 30
# Two years, a leap day included: 2024-01-01..2025-12-31 is 731 days.
MAX_DAYS = 731
LEAD_COLUMNS = (
    "id",
    "created",
    "status",
    "channel",
    "title",
    "contact",
    "email",
    "phone",
    "company",
    "assignee",
    "team",
    "first contact due",
    "junk reason",
)


def period(query: ReportQuery, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) in UTC for the query's days; 422 when reversed or too long."""
    last = query.end or now.date()
    first = query.start or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        sentence = N_("The period's first day (from) is after its last (to).")
        raise ApiError(422, sentence, errors={"from": Sentence(sentence)})
    days = (last - first).days + 1
    if days > MAX_DAYS:
        raise ApiError(
            422,
            N_(
                "A report covers at most two years (%(max)s days); %(first)s to %(last)s "
                "is %(days)s days. Choose a shorter period."
            ),
            errors={"to": f"at most {MAX_DAYS} days after from"},
            params={"max": MAX_DAYS, "first": first, "last": last, "days": days},
        )
    return _midnight(first), _midnight(last + timedelta(days=1))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def lead_table(rows: list[LeadExportRow], viewer_zone: str) -> list[list[Cell]]:
    """The export's header and rows; times in the viewer's zone, codes as labels."""
    where = display.zone(viewer_zone)
    header: list[Cell] = [*LEAD_COLUMNS[:1], f"created ({viewer_zone})", *LEAD_COLUMNS[2:]]
    table: list[list[Cell]] = [header]
    for r in rows:
        due = r.first_contact_due_at.astimezone(where) if r.first_contact_due_at else None
        table.append(
            [
                str(r.id),
                r.created_at.astimezone(where),
                display.label(r.status),
                display.label(r.channel),
                r.title,
                r.contact_name,
                r.contact_email,
                r.contact_phone,
                r.company,
                r.assignee,
                r.team,
                due,
                r.junk_reason,
            ]
        )
    return table


def _download(body: bytes, content_type: str, name: str) -> web.Response:
    return web.Response(
        body=body,
        headers={
            "Content-Type": content_type,
            "Content-Disposition": f'attachment; filename="{name}"',
        },
    )


class ReportEndpoints:
    def __init__(self, db: Database, *, region: str = "RU") -> None:
        self._db = db
        self._region = region

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
        "The same report as CSV (UTF-8 with a BOM; `sep` `;` or `,`)",
        query=ExportQuery,
        response=str,
        produces="text/csv",
    )
    async def report_csv(self, call: Call) -> web.Response:
        rep = await self.build(call)
        sep = call.query_as(ExportQuery).sep or default_delimiter(self._region)
        rows: list[list[Cell]] = [list(row) for row in reports.csv_rows(rep)]
        name = f"leadflow-report-{rep.start.date()}-{(rep.end - timedelta(days=1)).date()}.csv"
        return _download(csv_bytes(rows, sep), "text/csv; charset=utf-8", name)

    async def leads_of(self, call: Call) -> tuple[list[list[Cell]], str]:
        q = call.query_as(ExportQuery)
        start, end = period(q, call.now)
        async with self._db.sessions() as session:
            rows = await lead_export.lead_rows(
                session, call.who, start=start, end=end, team_id=q.team_id, user_id=q.user_id
            )
        name = f"leadflow-leads-{start.date()}-{(end - timedelta(days=1)).date()}"
        return lead_table(rows, call.who.timezone), name

    @route(
        "GET",
        "/api/v1/leads.csv",
        "The leads created in the period, one row each, as CSV (scoped like reports)",
        query=ExportQuery,
        response=str,
        produces="text/csv",
    )
    async def leads_csv(self, call: Call) -> web.Response:
        table, name = await self.leads_of(call)
        sep = call.query_as(ExportQuery).sep or default_delimiter(self._region)
        return _download(csv_bytes(table, sep), "text/csv; charset=utf-8", f"{name}.csv")

    @route(
        "GET",
        "/api/v1/leads.xlsx",
        "The leads created in the period, one row each, as an Excel workbook",
        query=ExportQuery,
        response=str,
        produces=XLSX_TYPE,
    )
    async def leads_xlsx(self, call: Call) -> web.Response:
        table, name = await self.leads_of(call)
        return _download(xlsx_bytes("Leads", table), XLSX_TYPE, f"{name}.xlsx")
