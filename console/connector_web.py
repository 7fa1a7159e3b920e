"""The connectors page (`/admin/connectors`): every kind's form, health, tests.

Admins only (anyone else gets the 403 page). For every connector kind the runtime
injected, a form generated from its settings model (`connector_forms`); for every
connector, its settings to edit, its secrets as "set"/"not set" (write-only inputs,
blank keeps, "clear" removes), on/off, delete, "Test" and its last test coloured by
outcome, and its last day as a strip of hours in the viewer's zone
(`health_strip`). Every change posts to the admin JSON API through `static/app.js`
with the CSRF token. Imports `crm_store`, `console` helpers and `ingest.contract.i18n`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from aiohttp import web
from babel.dates import format_time
from pydantic import BaseModel

from console import display
from console.auth import Authenticator
from console.connector_admin import sentence
from console.connector_forms import KindForm, form_of, values_of
from console.guard import ADMINS, guard
from console.health_strip import HOURS, strip
from console.http import Auth
from crm_store import connector_health, connectors, people
from crm_store.database import Database
from ingest.contract.i18n import Catalogs, locale_of


class Pages(Protocol):
    def render(
        self, request: web.Request, name: str, status: int = 200, **context: Any
    ) -> web.Response: ...

    def language_for(self, request: web.Request, auth: Auth | None) -> str: ...

    @property
    def catalogs(self) -> Catalogs: ...


class SecretNames(Protocol):
    def decrypt(self, token: str | None) -> dict[str, str]: ...


class ConnectorPages:
    def __init__(
        self,
        db: Database,
        authenticator: Authenticator,
        pages: Pages,
        kinds: Mapping[str, type[BaseModel]],
        secret_box: SecretNames | None,
    ) -> None:
        self._db = db
        self._auth = authenticator
        self._pages = pages
        self._forms = {kind: form_of(kind, model) for kind, model in sorted(kinds.items())}
        self._box = secret_box

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(
                "/admin/connectors",
                guard(self._auth, self._pages.render, self.connectors_page, ADMINS),
            )
        ]

    def _secrets_set(self, row: connectors.ConnectorRow) -> set[str]:
        if self._box is None or not row.secrets:
            return set()
        try:
            return set(self._box.decrypt(row.secrets))
        except Exception:  # a key that changed: say "not set", the API will say why
            return set()

    async def connectors_page(self, request: web.Request, auth: Auth) -> web.StreamResponse:
        now = datetime.now(UTC)
        where = display.zone(auth.who.timezone)
        since = now - timedelta(hours=HOURS + 1)
        async with self._db.sessions() as session:
            rows = await connectors.list_connectors(session, active_only=False)
            teams = await people.list_teams(session)
            names = [r.name for r in rows]
            hours = await connector_health.hours(session, names, since)
            times = await connector_health.inquiry_times(session, names, since)
            tests = await connector_health.last_tests(session, names)
        language = self._pages.language_for(request, auth)
        loc = locale_of(language)
        gettext = self._pages.catalogs.get(language).gettext
        items = []
        for row in rows:
            form: KindForm | None = self._forms.get(row.kind)
            health = strip(now, where, hours[row.name], times[row.name])
            items.append(
                {
                    "row": row,
                    "form": form,
                    "current": values_of(form, row.settings) if form else {},
                    "secrets_set": self._secrets_set(row),
                    "strip": health,
                    "hour_labels": [
                        format_time(c.start, "short", tzinfo=where, locale=loc)
                        for c in health.cells
                    ],
                    "test": (test := tests.get(row.name)),
                    # Translated here, so the page escapes it like any other text.
                    "test_text": sentence(gettext, test.message, test.params) if test else "",
                }
            )
        return self._pages.render(
            request,
            "admin_connectors.html",
            auth=auth,
            items=items,
            forms=list(self._forms.values()),
            teams=teams,
        )
