"""The console's web UI: server-rendered Jinja2 pages with a little plain JavaScript.

Pages read through the same scoped store queries as the API; every change a page
makes goes through the JSON API (`static/app.js` posts forms as JSON with the
session's CSRF token), so there is one set of rules. The queue polls
`/api/v1/live` and swaps in a server-rendered fragment when something changed.
Autoescaping is on everywhere; customer text is only ever text; links are shown
only when they are http(s).

Every page speaks the viewer's language (`language_for`: their own setting, else
their browser's Accept-Language, else the deployment's default): one Jinja2
environment per language with its gettext catalog and locale formats installed.
Imports `crm_store`, `console` helpers and `ingest.contract.i18n`.
"""

from __future__ import annotations

import functools
import hmac
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit

import jinja2
from aiohttp import web
from jinja2.runtime import Context
from pydantic import ValidationError

from console import charts, display, form_builder, zones
from console.auth import COOKIE, Authenticator, set_cookie
from console.guard import ADMINS, Handler, guard
from console.http import ApiError, Auth
from console.lead_api import mailto_href, tel_href
from console.reports import period
from console.schemas import Channel, ExportQuery
from console.search import SearchQuery, read_terms
from console.spreadsheet import default_delimiter
from crm_store import (
    accounts,
    card,
    configuration,
    people,
    queue,
    reassignment,
    reports,
    search,
)
from crm_store.database import Database
from crm_store.history import lead_history
from ingest.contract.i18n import N_, Catalogs

HERE = Path(__file__).parent
CHANNELS = frozenset(get_args(Channel))
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
Page = Callable[[web.Request, Auth], Awaitable[web.StreamResponse]]
TOP_MANAGERS = 12  # bars in "Leads per manager"; the rest are summed as "Others"


def safe_url(value: object) -> str:
    """The URL if it is http(s), else empty: `javascript:` and friends never become links."""
    text = str(value or "")
    return text if urlsplit(text).scheme in ("http", "https") else ""


def environment(
    region: str = "RU", language: str = "en", catalogs: Catalogs | None = None
) -> jinja2.Environment:
    """The pages' environment for one language: its catalog and locale formats."""
    catalogs = catalogs or Catalogs.load()
    translations = catalogs.get(language)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    gettext = translations.gettext

    @jinja2.pass_context
    def when(ctx: Context, value: datetime | None) -> str:
        # Every page's context has the viewer's zone (`render` puts it there).
        return display.when(value, ctx.get("tz", UTC), language)

    @jinja2.pass_context
    def relative(ctx: Context, value: datetime | None) -> str:
        return display.relative(value, ctx.get("now") or datetime.now(UTC), language, gettext)

    env.globals["language"] = language
    env.globals["languages"] = catalogs.languages
    env.globals["zone_choices"] = functools.cache(lambda: zones.choices(gettext))
    env.filters["safe_url"] = safe_url
    env.filters["when"] = when
    env.filters["relative"] = relative
    env.filters["label"] = lambda code: display.label(code, gettext)
    env.filters["subject"] = lambda text: display.subject(text, gettext)
    env.filters["money"] = lambda amount: display.money(amount, region, language)
    env.filters["phone"] = lambda e164: display.phone(e164, region)
    env.filters["number"] = lambda value: display.number(value, language)
    env.filters["day"] = lambda value: display.day(value, language)
    env.filters["tel"] = lambda phone: tel_href(phone, region)
    env.filters["mailto"] = mailto_href
    return env


class WebPages:
    def __init__(
        self,
        db: Database,
        authenticator: Authenticator,
        *,
        forms_base_url: str | None = None,
        region: str = "RU",
        language: str = "ru",
    ) -> None:
        self._db = db
        self._auth = authenticator
        self._forms_base = forms_base_url
        self._catalogs = Catalogs.load(default=language)
        self._envs = {
            lang: environment(region, lang, self._catalogs) for lang in self._catalogs.languages
        }
        self._region = region

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/", self._signed_in(self.home)),
            web.get("/login", self.login_page),
            web.post("/login", self.login),
            web.post("/logout", self._signed_in(self.logout)),
            web.post("/language", self._signed_in(self.set_language)),
            web.get("/queue", self._signed_in(self.queue_page)),
            web.get("/queue/items", self._signed_in(self.queue_items)),
            web.get("/leads/{lead_id}", self._signed_in(self.lead_page)),
            web.get("/reports", self._signed_in(self.reports_page)),
            web.get("/search", self._signed_in(self.search_page)),
            web.get("/admin/forms", self._signed_in(self.forms_page, admin=True)),
            web.get("/admin/forms/{slug}", self._signed_in(self.form_page, admin=True)),
            web.get("/admin/people", self._signed_in(self.people_page, admin=True)),
            web.get("/admin/rules", self._signed_in(self.rules_page, admin=True)),
            web.get("/static/{name}", self.static),
            web.get("/favicon.ico", self.favicon),
        ]

    @property
    def catalogs(self) -> Catalogs:
        return self._catalogs

    def language_for(self, request: web.Request, auth: Auth | None) -> str:
        """The person's own setting, else their browser's, else the default."""
        setting = auth.who.language if auth else None
        return self._catalogs.choose(setting, request.headers.get("Accept-Language"))

    def gettext(self, request: web.Request, auth: Auth | None) -> Callable[[str], str]:
        return self._catalogs.get(self.language_for(request, auth)).gettext

    def render(
        self, request: web.Request, name: str, status: int = 200, **context: Any
    ) -> web.Response:
        auth = context.get("auth")
        language = self.language_for(request, auth)
        context.setdefault("tz", display.zone(auth.who.timezone) if auth else UTC)
        context.setdefault("here", request.path_qs)
        html = self._envs[language].get_template(name).render(**context)
        response = web.Response(text=html, content_type="text/html", status=status)
        response.headers["Content-Language"] = language
        # The page depends on the header when no setting decided it (caches must know).
        response.headers["Vary"] = "Accept-Language, Cookie"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    def _signed_in(self, page: Page, *, admin: bool = False) -> Handler:
        return guard(self._auth, self.render, page, ADMINS if admin else None)

    async def home(self, _request: web.Request, _auth: Auth) -> web.StreamResponse:
        raise web.HTTPSeeOther("/queue")

    async def login_page(self, request: web.Request) -> web.StreamResponse:
        return self.render(
            request, "login.html", auth=None, error=None, next=_next(request.query.get("next"))
        )

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        email, password = str(form.get("email", "")), str(form.get("password", ""))
        target = _next(str(form.get("next", "")))
        try:
            _auth, cookie = await self._auth.sign_in(request, email, password)
        except ApiError as exc:
            error = exc.translated(self.gettext(request, None))
            return self.render(
                request, "login.html", exc.status, auth=None, error=error, next=target
            )
        response = web.HTTPSeeOther(target)
        set_cookie(request, response, cookie)
        raise response

    async def logout(self, request: web.Request, auth: Auth) -> web.StreamResponse:
        form = await request.post()
        sent = str(form.get("csrf_token", ""))
        if not _csrf_ok(auth, sent):
            return self.render(
                request, "error.html", 403, auth=auth, message=N_("The CSRF token is wrong.")
            )
        await self._auth.sign_out(auth)
        response = web.HTTPSeeOther("/login")
        response.del_cookie(COOKIE, path="/")
        raise response

    async def set_language(self, request: web.Request, auth: Auth) -> web.StreamResponse:
        """The header's language switch: stores the person's choice, then goes back."""
        form = await request.post()
        if not _csrf_ok(auth, str(form.get("csrf_token", ""))):
            return self.render(
                request, "error.html", 403, auth=auth, message=N_("The CSRF token is wrong.")
            )
        wanted = str(form.get("language", ""))
        # "auto" (or anything we have no catalog for) hands the choice back to the browser.
        language = wanted if wanted in self._catalogs.languages else None
        async with self._db.sessions() as session, session.begin():
            await accounts.set_language(session, auth.who.user_id, language)
        raise web.HTTPSeeOther(_next(str(form.get("next", ""))))

    async def _queue_context(self, request: web.Request, auth: Auth) -> dict[str, Any]:
        q = request.query
        overdue = {"1": True, "0": False}.get(q.get("overdue", ""))
        status = q.get("status", "new,in_progress")
        statuses = [
            s for s in status.split(",") if s in ("new", "in_progress", "converted", "junk")
        ]
        now = datetime.now(UTC)
        async with self._db.sessions() as session:
            page = await queue.queue(
                session,
                auth.who,
                now=now,
                statuses=statuses or ["new", "in_progress"],
                # Only a known channel reaches the query (a NUL would fail on PostgreSQL).
                channel=q.get("channel") if q.get("channel") in CHANNELS else None,
                overdue=overdue,
                # The team board links a manager's name here: their leads, to reassign.
                assignee_id=_assignee(q.get("assignee", "")),
                sort="-created_at" if q.get("sort") == "newest" else "due",
                limit=100,
            )
            counts = await queue.counters(session, auth.who, now)
        return {"auth": auth, "page": page, "counters": counts, "query": q, "now": now}

    async def queue_page(self, request: web.Request, auth: Auth) -> web.StreamResponse:
        async with self._db.sessions() as session:
            users = await people.list_users(session)
            # Whom a head may give the selected leads to (the bulk reassign form).
            targets = await reassignment.targets(session, auth.who)
        # Who a hand-made lead can go to; its creator is the default (first) choice.
        owners = [u for u in users if u.active and u.role != "admin" and u.id != auth.who.user_id]
        context = await self._queue_context(request, auth)
        return self.render(request, "queue.html", owners=owners, targets=targets, **context)

    async def queue_items(self, request: web.Request, auth: Auth) -> web.StreamResponse:
        context = await self._queue_context(request, auth)
        return self.render(request, "_queue_items.html", **context)

    async def lead_page(self, request: web.Request, auth: Auth) -> web.StreamResponse:
        try:
            lead_id = uuid.UUID(request.match_info["lead_id"])
        except ValueError:
            lead_id = None
        async with self._db.sessions() as session:
            view = await card.lead_card(session, auth.who, lead_id) if lead_id else None
            history = await lead_history(session, auth.who, lead_id) if view and lead_id else None
        if view is None or history is None:
            return self.render(
                request, "error.html", 404, auth=auth, message=N_("There is no lead with this id.")
            )
        now = datetime.now(UTC)
        # The next activity's time is typed in the viewer's zone, prefilled an hour ahead;
        # `app.js` reads it back in that same zone (`data-zone`), not the browser's.
        tz = display.zone(auth.who.timezone)
        soon = display.local_input(now + timedelta(hours=1), tz)
        return self.render(
            request,
            "lead.html",
            auth=auth,
            lead=view,
            history=history.items,
            soon=soon,
            now=now,
            tz=tz,
            zone_name=getattr(tz, "key", "UTC"),
        )

    async def reports_page(self, request: web.Request, auth: Auth) -> web.StreamResponse:
        now = datetime.now(UTC)
        try:
            query = ExportQuery.model_validate(dict(request.query))
            start, end = period(query, now)
        except ValidationError:
            sentence = self.gettext(request, auth)(N_("These dates are not valid days."))
            return self._report_refused(request, auth, sentence)
        except ApiError as exc:
            return self._report_refused(request, auth, exc.translated(self.gettext(request, auth)))
        async with self._db.sessions() as session:
            rep = await reports.report(session, auth.who, start=start, end=end, now=now)
        language = self.language_for(request, auth)
        gettext = self._catalogs.get(language).gettext
        per_day = charts.stacked_columns(
            [
                (
                    display.day_month(d.day, language),
                    {display.label(c, gettext): n for c, n in d.by_channel.items()},
                )
                for d in rep.per_day
            ]
        )
        # Worst first: with fifty managers, who needs help is at the top of the box.
        sla = charts.bars(
            [(m.name, m.sla_kept_pct) for m in rep.managers if m.sla_kept_pct is not None],
            maximum=100,
            unit="%",
            order="asc",
        )
        others = gettext(N_("Others"))
        received = charts.bars(
            charts.top(
                [(m.name, float(m.received)) for m in rep.managers if m.received],
                TOP_MANAGERS,
                others,
            ),
            muted=others,
        )
        hist = charts.bars([(b.label, float(b.count)) for b in rep.first_response_histogram])
        return self.render(
            request,
            "reports.html",
            auth=auth,
            report=rep,
            error=None,
            start=start.date(),
            last=(end - timedelta(days=1)).date(),
            sep=query.sep or default_delimiter(self._region),
            per_day=per_day,
            sla=sla,
            hist=hist,
            received=received,
        )

    async def search_page(self, request: web.Request, auth: Auth) -> web.StreamResponse:
        typed = request.query.get("q", "")
        try:
            q = SearchQuery.model_validate({"q": typed.replace("\x00", "")}).q
        except ValidationError:
            # An empty box is the form to fill in; a short or long query says why.
            if not typed.strip():
                return self.render(
                    request, "search.html", auth=auth, q="", results=None, error=None
                )
            sentence = N_("Type from 2 to 200 characters to search.")
            error = self.gettext(request, auth)(sentence)
            return self.render(
                request, "search.html", 422, auth=auth, q=typed[:200], results=None, error=error
            )
        async with self._db.sessions() as session:
            results = await search.search(session, auth.who, read_terms(q, self._region))
        return self.render(request, "search.html", auth=auth, q=q, results=results, error=None)

    def _report_refused(self, request: web.Request, auth: Auth, message: str) -> web.Response:
        """The form again with the dates as typed and why, never another period."""
        q = request.query
        return self.render(
            request,
            "reports.html",
            422,
            auth=auth,
            report=None,
            error=message,
            start=q.get("from", "")[:10],
            last=q.get("to", "")[:10],
            sep=q.get("sep") if q.get("sep") in (";", ",") else default_delimiter(self._region),
        )

    async def forms_page(self, request: web.Request, auth: Auth) -> web.StreamResponse:
        return await self._form_builder(request, auth, None)

    async def form_page(self, request: web.Request, auth: Auth) -> web.StreamResponse:
        return await self._form_builder(request, auth, request.match_info["slug"])

    async def _form_builder(
        self, request: web.Request, auth: Auth, slug: str | None
    ) -> web.StreamResponse:
        """The forms' list with the builder: for a new form, or for the form `slug`."""
        async with self._db.sessions() as session:
            forms = await configuration.list_forms(session)
            teams = await people.list_teams(session)
        editing = next((f for f in forms if f.slug == slug), None)
        if slug is not None and editing is None:
            missing = N_("There is no form with this slug.")
            return self.render(request, "error.html", 404, auth=auth, message=missing)
        base = (self._forms_base or str(request.url.origin())).rstrip("/")
        return self.render(
            request,
            "admin_forms.html",
            auth=auth,
            forms=forms,
            teams=teams,
            base=base,
            editing=editing,
            builder=form_builder.builder_data(editing, base, self._catalogs),
        )

    async def people_page(self, request: web.Request, auth: Auth) -> web.StreamResponse:
        async with self._db.sessions() as session:
            users = await people.list_users(session)
            teams = await people.list_teams(session)
            absences = await people.list_absences(session)
        return self.render(
            request,
            "admin_people.html",
            auth=auth,
            users=users,
            teams=teams,
            absences=absences,
        )

    async def rules_page(self, request: web.Request, auth: Auth) -> web.StreamResponse:
        async with self._db.sessions() as session:
            rules = await configuration.list_routing_rules(session)
            settings = await configuration.rule_settings(session)
            blocklist = await configuration.list_blocklist(session)
            teams = await people.list_teams(session)
        return self.render(
            request,
            "admin_rules.html",
            auth=auth,
            rules=rules,
            settings=settings,
            blocklist=blocklist,
            teams=teams,
        )

    async def favicon(self, _request: web.Request) -> web.StreamResponse:
        # Browsers ask for /favicon.ico on pages without the link (the public forms).
        raise web.HTTPMovedPermanently("/static/favicon.svg")

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = HERE / "static" / name
        kind = STATIC_TYPES.get(path.suffix)
        if kind is None or "/" in name or not path.is_file():
            raise web.HTTPNotFound()
        return web.Response(
            body=path.read_bytes(),
            content_type=kind,
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )


def _assignee(text: str) -> int | None:
    """A user id from the query, or None when it is not one (never an overflow)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None


def _csrf_ok(auth: Auth, sent: str) -> bool:
    return bool(auth.csrf_token) and hmac.compare_digest(sent, auth.csrf_token or "")


def _next(value: str | None) -> str:
    """Only a path of this site is a place to go back to after signing in; else "/".

    Browsers drop tabs and line breaks from URLs and read a backslash as a slash, so
    `/%09/evil.example` or `/\\evil` would leave the site: any control character,
    space or backslash, and anything with a scheme or a host, falls back to "/".
    """
    if (
        not value
        or len(value) > 2000
        or not value.startswith("/")
        or value.startswith("//")
        or any(ch <= " " or ch in "\\\x7f" for ch in value)
    ):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value
