"""The admin API for channel connectors: create, read, update, delete, test, health.

Secrets are write-only: they arrive in clear over the API, are encrypted with the
injected `SecretCodec` (Fernet, key from settings) before they reach the store, and
the API only ever says which are "set". Settings are checked against the kind's
pydantic model (injected too, so the console imports no connector); the running
connectors reload the table every few seconds, so changes apply without a restart.
The connection test is injected as well (`ConnectionTester`): the runtime's reaches
the service (Telegram getMe, an IMAP login) or says there is nothing to reach (None:
a webhook); without one the action answers 501. Every test's outcome, and the
connectors' reported successes and errors, are kept by the hour (`/health`).
Imports `crm_store` and `console` helpers only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ValidationError

from console.field_sentences import Sentence
from console.health_strip import utc_hours
from console.http import (
    ApiError,
    Call,
    Endpoint,
    Reply,
    collect,
    field_errors,
    invalid,
    reader_gettext,
    route,
)
from console.schemas import (
    ConnectionTestResult,
    ConnectorActive,
    ConnectorBody,
    ConnectorCreate,
    ConnectorHealth,
    ConnectorHealthHistory,
    ConnectorHour,
    ConnectorList,
    ConnectorView,
)
from crm_store import configuration, connector_health, connectors, people
from crm_store.database import Database
from ingest.contract.i18n import N_, Catalogs

ONE_HOUR = timedelta(hours=1)


class SecretCodec(Protocol):
    """Encrypts a connector's {name: value} secrets to one opaque string and back."""

    def encrypt(self, secrets: dict[str, str]) -> str: ...

    def decrypt(self, token: str | None) -> dict[str, str]: ...


ConnectionTester = Callable[
    [str, str, dict[str, Any], dict[str, str]],
    Awaitable[tuple[bool | None, str, dict[str, str]]],
]
"""(kind, name, settings, clear secrets) → (ok, a gettext message, its parameters):
a sentence without secrets; ok is None when there is nothing to connect to (the
provider calls us)."""


def test_result(ok: bool | None, detail: str) -> ConnectionTestResult:
    outcome = "not_testable" if ok is None else ("ok" if ok else "failed")
    return ConnectionTestResult(ok=ok is not False, outcome=outcome, detail=detail)


def sentence(gettext: Callable[[str], str], message: str, params: Mapping[str, str]) -> str:
    """A tester's message in the reader's language, its parameters filled in."""
    text = gettext(message)
    try:
        return text % dict(params) if params else text
    except (KeyError, ValueError, TypeError):  # a translation that lost a placeholder
        return message % dict(params) if params else message


def _secret_fields(model: type[BaseModel]) -> tuple[str, ...]:
    fields: tuple[str, ...] = getattr(model, "SECRET_FIELDS", ())
    return fields


class ConnectorEndpoints:
    NOT_TESTABLE: ClassVar[str] = "A connection test is not available for this kind yet."

    def __init__(
        self,
        db: Database,
        *,
        secret_box: SecretCodec | None = None,
        connector_kinds: Mapping[str, type[BaseModel]] | None = None,
        tester: ConnectionTester | None = None,
        catalogs: Catalogs | None = None,
    ) -> None:
        self._db = db
        self._catalogs = catalogs
        self._box = secret_box
        self._kinds = dict(connector_kinds or {})
        self._tester = tester

    def endpoints(self) -> list[Endpoint]:
        return collect(self, tag="admin", access="admin")

    def _view(self, row: connectors.ConnectorRow) -> ConnectorView:
        names = sorted(self._box.decrypt(row.secrets)) if self._box and row.secrets else []
        return ConnectorView(
            kind=row.kind,
            name=row.name,
            team=row.team,
            active=row.active,
            settings=row.settings,
            secrets=dict.fromkeys(names, "set"),
            health=ConnectorHealth(
                last_success_at=row.last_success_at,
                last_error=row.last_error,
                last_error_at=row.last_error_at,
            ),
            updated_at=row.updated_at,
        )

    async def _rows(self) -> list[connectors.ConnectorRow]:
        async with self._db.sessions() as session:
            return await connectors.list_connectors(session, active_only=False)

    @route(
        "GET", "/api/v1/admin/connectors", "Channel connectors, with health", response=ConnectorList
    )
    async def list_connectors(self, _call: Call) -> ConnectorList:
        return ConnectorList(
            items=[self._view(r) for r in await self._rows()], kinds=sorted(self._kinds)
        )

    @route(
        "GET",
        "/api/v1/admin/connectors/{name}",
        "One connector, with health",
        response=ConnectorView,
    )
    async def get_connector(self, call: Call) -> ConnectorView:
        name = call.request.match_info["name"]
        for row in await self._rows():
            if row.name == name:
                return self._view(row)
        raise ApiError(404, N_("There is no connector with this name."))

    def _checked(
        self, kind: str, name: str, body: ConnectorBody, secrets: dict[str, str]
    ) -> dict[str, Any]:
        """The settings to store, once the kind's model accepts them; else 422."""
        model = self._kinds.get(kind)
        if model is None:
            kinds = ", ".join(repr(k) for k in sorted(self._kinds))
            raise invalid(
                {"kind": Sentence(N_("Choose one of: %(expected)s."), {"expected": kinds})}
            )
        secret_names = _secret_fields(model)
        if unknown := sorted(set(secrets) - set(secret_names)):
            not_secret = Sentence(N_("This is not a secret of this kind of connector."))
            raise invalid({f"secrets.{n}": not_secret for n in unknown})
        # A secret among the settings would be stored in clear and then dropped from
        # the connector, which would fail to load: refuse it and say where it goes.
        if misplaced := sorted(set(body.settings) & set(secret_names)):
            secret = Sentence(N_("This is a secret: send it in secrets."))
            raise invalid({f"settings.{n}": secret for n in misplaced})
        data = {**body.settings, **secrets, "name": name, "team": body.team, "active": body.active}
        try:
            valid = model.model_validate(data)
        except ValidationError as exc:
            errors = field_errors(exc)
            raise invalid(
                {
                    (f"secrets.{k}" if k in secret_names else f"settings.{k}"): v
                    for k, v in errors.items()
                }
            ) from None
        return valid.model_dump(mode="json", exclude={"name", "team", "active", *secret_names})

    async def _save(
        self, call: Call, kind: str, name: str, body: ConnectorBody, old: str | None
    ) -> ConnectorView:
        if self._box is None:
            raise ApiError(503, "No secret key is configured, so connectors cannot be saved.")
        secrets = self._box.decrypt(old)
        for key, value in body.secrets.items():
            if value:
                secrets[key] = value
            else:
                secrets.pop(key, None)
        plain = self._checked(kind, name, body, secrets)
        async with self._db.sessions() as session, session.begin():
            try:
                await connectors.upsert_connector(
                    session,
                    kind=kind,
                    name=name,
                    team=body.team,
                    settings=plain,
                    secrets=self._box.encrypt(secrets),
                    now=call.now,
                    active=body.active,
                )
            except connectors.ConnectorConflict as exc:
                raise ApiError(409, f"{str(exc).capitalize()}.") from None
        for row in await self._rows():
            if row.name == name:
                return self._view(row)
        raise ApiError(404, N_("There is no connector with this name."))

    @route(
        "POST",
        "/api/v1/admin/connectors",
        "Create a connector (secrets write-only)",
        body=ConnectorCreate,
        response=ConnectorView,
        status=201,
    )
    async def create_connector(self, call: Call) -> Reply:
        body = call.body_as(ConnectorCreate)
        async with self._db.sessions() as session:
            try:
                await configuration.connector_secrets(session, body.name)
            except people.NotFound:
                pass
            else:
                raise ApiError(
                    409,
                    N_("A connector called %(name)s exists already."),
                    params={"name": repr(body.name)},
                )
        return Reply(await self._save(call, body.kind, body.name, body, None), status=201)

    @route(
        "PUT",
        "/api/v1/admin/connectors/{name}",
        "Change a connector; omitted secrets are kept",
        body=ConnectorBody,
        response=ConnectorView,
    )
    async def update_connector(self, call: Call) -> ConnectorView:
        name = call.request.match_info["name"]
        async with self._db.sessions() as session:
            kind, old = await configuration.connector_secrets(session, name)
        return await self._save(call, kind, name, call.body_as(ConnectorBody), old)

    @route("DELETE", "/api/v1/admin/connectors/{name}", "Delete a connector", status=204)
    async def delete_connector(self, call: Call) -> None:
        name = call.request.match_info["name"]
        async with self._db.sessions() as session, session.begin():
            await configuration.delete_connector(session, name)
            await connector_health.forget(session, name)

    @route(
        "PUT",
        "/api/v1/admin/connectors/{name}/active",
        "Switch a connector on or off; its settings and secrets are kept",
        body=ConnectorActive,
        response=ConnectorView,
    )
    async def set_active(self, call: Call) -> ConnectorView:
        name = call.request.match_info["name"]
        active = call.body_as(ConnectorActive).active
        async with self._db.sessions() as session, session.begin():
            await configuration.connector_secrets(session, name)  # 404 when unknown
            row = next(r for r in await connectors.list_connectors(session, active_only=False)
                       if r.name == name)  # fmt: skip
            await connectors.upsert_connector(
                session,
                kind=row.kind,
                name=name,
                team=row.team,
                settings=row.settings,
                secrets=row.secrets,
                now=call.now,
                active=active,
            )
        return await self.get_connector(call)

    @route(
        "GET",
        "/api/v1/admin/connectors/{name}/health",
        "A connector's last 24 hours: inquiries, successes, errors and tests per hour",
        response=ConnectorHealthHistory,
    )
    async def health(self, call: Call) -> ConnectorHealthHistory:
        name = call.request.match_info["name"]
        async with self._db.sessions() as session:
            await configuration.connector_secrets(session, name)  # 404 when unknown
            hours = utc_hours(call.now)
            since = hours[0]
            kept = (await connector_health.hours(session, [name], since))[name]
            times = (await connector_health.inquiry_times(session, [name], since))[name]
            last = (await connector_health.last_tests(session, [name])).get(name)
        by_hour = {h.hour_at: h for h in kept}
        items = []
        for start in hours:
            h = by_hour.get(start)
            items.append(
                ConnectorHour(
                    hour_at=start,
                    inquiries=sum(1 for t in times if start <= t < start + ONE_HOUR),
                    successes=h.successes if h else 0,
                    errors=h.errors if h else 0,
                    last_error=h.last_error if h else None,
                    tests_ok=h.tests_ok if h else 0,
                    tests_failed=h.tests_failed if h else 0,
                )
            )
        return ConnectorHealthHistory(
            name=name,
            hours=items,
            last_test=ConnectionTestResult(
                ok=last.ok,
                outcome="ok" if last.ok else "failed",
                detail=sentence(self._gettext(call), last.message, last.params),
            )
            if last
            else None,
            last_test_at=last.at if last else None,
        )

    @route(
        "POST",
        "/api/v1/admin/connectors/{name}/test",
        "Test a connector's connection: reach the service with its settings and secrets",
        response=ConnectionTestResult,
    )
    async def test_connector(self, call: Call) -> ConnectionTestResult:
        name = call.request.match_info["name"]
        async with self._db.sessions() as session:
            kind, encrypted = await configuration.connector_secrets(session, name)
            row = next(
                (
                    r
                    for r in await connectors.list_connectors(session, active_only=False)
                    if r.name == name
                ),
                None,
            )
        if self._tester is None or self._box is None or row is None:
            raise ApiError(501, f"{self.NOT_TESTABLE} ({kind})", kind=kind)
        ok, message, params = await self._tester(
            kind, name, dict(row.settings), self._box.decrypt(encrypted)
        )
        if ok is not None:  # "nothing to connect to" says nothing of the connector's health
            async with self._db.sessions() as session, session.begin():
                await connector_health.note(session, name, call.now, test=(ok, message, params))
        return test_result(ok, sentence(self._gettext(call), message, params))

    def _gettext(self, call: Call) -> Callable[[str], str]:
        return reader_gettext(call.request, call.auth, self._catalogs)
