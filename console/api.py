"""The console: its REST API under /api/v1 (with the OpenAPI document) and web UI.

`ConsoleApi` composes the endpoint groups (auth, manager work, admin, reports),
turns each declared `Endpoint` into an aiohttp route through one wrapper (auth,
CSRF, validation, problem+json), serves `/api/v1/openapi.json` generated from the
same list, and adds the server-rendered pages. What it needs from the process (a
publisher for manual leads, the secret box, the connector kinds) is passed in, so
it imports `crm_store` and `ingest`, never a connector or `leadflow`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from console.admin import AdminEndpoints
from console.auth import AuthEndpoints, Authenticator
from console.connector_admin import ConnectionTester, ConnectorEndpoints, SecretCodec
from console.connector_web import ConnectorPages
from console.http import Call, Endpoint, handler_for, method_not_allowed
from console.lead_api import LeadEndpoints
from console.lead_views import LeadViewPages
from console.manager import ManagerEndpoints, Publish
from console.notifications import NotificationEndpoints
from console.openapi import openapi_document
from console.people_admin import PeopleAdminEndpoints
from console.ratelimit import LoginLimiter
from console.records import RecordEndpoints
from console.records_web import RecordPages
from console.reports import ReportEndpoints
from console.review import ReviewEndpoints
from console.review_web import ReviewPages
from console.search import SearchEndpoints
from console.team import TeamEndpoints, TeamPages
from console.web import WebPages
from crm_store.database import Database
from ingest.contract.i18n import Catalogs


class ConsoleApi:
    def __init__(
        self,
        db: Database,
        *,
        publish: Publish | None = None,
        secret_box: SecretCodec | None = None,
        connector_kinds: Mapping[str, type[BaseModel]] | None = None,
        connection_tester: ConnectionTester | None = None,
        forms_base_url: str | None = None,
        sla_defaults: Mapping[str, int] | None = None,
        default_team: str | None = None,
        default_region: str = "RU",
        default_language: str = "ru",
        limiter: LoginLimiter | None = None,
        trusted_proxies: Sequence[str] = (),
    ) -> None:
        self.authenticator = Authenticator(db, limiter, trusted_proxies)
        catalogs = Catalogs.load(default=default_language)
        self._groups = [
            AuthEndpoints(db, self.authenticator).endpoints(),
            ManagerEndpoints(db, publish, default_region=default_region).endpoints(),
            NotificationEndpoints(db).endpoints(),
            ConnectorEndpoints(
                db,
                secret_box=secret_box,
                connector_kinds=connector_kinds,
                tester=connection_tester,
                catalogs=catalogs,
            ).endpoints(),
            AdminEndpoints(
                db,
                forms_base_url=forms_base_url,
                sla_defaults=sla_defaults,
            ).endpoints(),
            PeopleAdminEndpoints(
                db,
                sla_defaults=sla_defaults,
                default_team=default_team,
                default_region=default_region,
                catalogs=catalogs,
            ).endpoints(),
            ReportEndpoints(db, region=default_region).endpoints(),
            ReviewEndpoints(db, publish).endpoints(),
            SearchEndpoints(db, region=default_region).endpoints(),
            RecordEndpoints(db).endpoints(),
            TeamEndpoints(db).endpoints(),
        ]
        self._document: dict[str, Any] | None = None
        self.pages = WebPages(
            db,
            self.authenticator,
            forms_base_url=forms_base_url,
            region=default_region,
            language=default_language,
        )
        self.review_pages = ReviewPages(db, self.authenticator, self.pages.render)
        self.lead_pages = LeadViewPages(db, self.authenticator, self.pages.render)
        self._groups.append(
            LeadEndpoints(db, region=default_region, catalogs=self.pages.catalogs).endpoints()
        )
        self.record_pages = RecordPages(db, self.authenticator, self.pages.render)
        self.team_pages = TeamPages(db, self.authenticator, self.pages.render)
        self.connector_pages = ConnectorPages(
            db, self.authenticator, self.pages, connector_kinds or {}, secret_box
        )

    def endpoints(self) -> list[Endpoint]:
        docs = Endpoint(
            "GET",
            "/api/v1/openapi.json",
            self.openapi,
            "This OpenAPI 3.1 document",
            "meta",
            "public",
        )
        return [e for group in self._groups for e in group] + [docs]

    async def openapi(self, _call: Call) -> web.Response:
        if self._document is None:
            self._document = openapi_document(self.endpoints())
        return web.json_response(self._document)

    def routes(self) -> list[web.RouteDef]:
        endpoints = self.endpoints()
        # Problem sentences in the caller's language (their setting, else Accept-Language).
        catalogs = self.pages.catalogs
        api = [
            web.route(e.method, e.path, handler_for(e, self.authenticator, catalogs))
            for e in endpoints
        ]
        # Last, per path: any other method is a 405 that names the allowed ones.
        methods: dict[str, list[str]] = {}
        for e in endpoints:
            methods.setdefault(e.path, []).append(e.method)
        others = [web.route("*", path, method_not_allowed(m)) for path, m in methods.items()]
        # The leads table and board first: `/leads/board` is not a lead's id.
        pages = (
            self.lead_pages.routes()
            + self.pages.routes()
            + self.review_pages.routes()
            + self.record_pages.routes()
            + self.team_pages.routes()
            + self.connector_pages.routes()
        )
        return api + pages + others
