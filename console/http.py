"""The console's HTTP plumbing: one `Endpoint` list drives routing, auth and OpenAPI.

Each endpoint declares its method, path, the roles that may call it, and its query,
body and response pydantic models. `handler_for` turns it into an aiohttp handler
that authenticates (bearer token or session cookie), checks the CSRF token of
cookie-authenticated writes, validates the query and the JSON body (422 with
`errors` naming each field), calls the endpoint with a `Call`, and answers JSON or
RFC 9457 problem+json. Store errors map to statuses in one place (`_problem_for`).
Imports `crm_store` and `ingest.contract`, never a connector or `leadflow`.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from gettext import NullTranslations
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError

from console.field_sentences import Sentence, sentence, translated
from crm_store.accounts import Principal
from crm_store.people import NotFound, PeopleError
from crm_store.work import WorkConflict
from ingest.contract.i18n import N_, Catalogs
from ingest.contract.problem import problem

Access = Literal["public", "user", "head", "admin"]
M = TypeVar("M", bound=BaseModel)
log = logging.getLogger(__name__)
MAX_ID = 2**31 - 1
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_JSON_BYTES = 256 * 1024


class ApiError(Exception):
    """Answer with this problem: raise from an endpoint instead of returning."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, object] | None = None,
        **extra: Any,
    ) -> None:
        # `detail` may be a gettext message with `%(name)s` placeholders filled from
        # `params`: a page translates `message` first (`translated`), the API shows it
        # as is.
        self.message, self.params = detail, dict(params or {})
        detail = detail % self.params if params else detail
        super().__init__(detail)
        self.status, self.detail, self.headers, self.extra = status, detail, headers, extra

    def translated(self, gettext: Callable[[str], str]) -> str:
        """The sentence in the reader's language (as is when it has no translation)."""
        text = gettext(self.message)
        try:
            return text % self.params if self.params else text
        except (KeyError, ValueError, TypeError):
            return self.detail

    def response(self) -> web.Response:
        return problem(
            self.status,
            self.detail,
            headers=dict(self.headers) if self.headers else None,
            **self.extra,
        )


@dataclass(frozen=True, slots=True)
class Auth:
    """Who called, and how: a bearer token, or a browser session (with its CSRF token)."""

    who: Principal
    via: Literal["token", "session"]
    csrf_token: str | None = None
    session_hash: str | None = None


@dataclass(slots=True)
class Call:
    """What an endpoint receives: the request, the caller, the parsed input, the time."""

    request: web.Request
    auth: Auth | None
    query: BaseModel | None
    body: BaseModel | None
    now: datetime

    @property
    def who(self) -> Principal:
        if self.auth is None:
            raise ApiError(401, N_("Sign in first."))
        return self.auth.who

    def body_as(self, model: type[M]) -> M:
        if not isinstance(self.body, model):
            raise TypeError(f"this endpoint declared no {model.__name__} body")
        return self.body

    def query_as(self, model: type[M]) -> M:
        if not isinstance(self.query, model):
            raise TypeError(f"this endpoint declared no {model.__name__} query")
        return self.query

    def path_int(self, name: str) -> int:
        """The integer path parameter `name`: 404 when not a number, 422 out of bounds."""
        text = self.request.match_info[name]
        if not (text.isascii() and text.removeprefix("-").isdigit()):
            raise ApiError(404, "There is nothing at this address.")
        value = int(text) if len(text) <= 12 else MAX_ID + 1
        if not 1 <= value <= MAX_ID:
            said = Sentence(N_("Enter a number from 1 to %(max)s."), {"max": MAX_ID})
            raise invalid({name: said})
        return value


@dataclass(frozen=True, slots=True)
class Reply:
    """A JSON answer with a status other than 200, or extra headers."""

    body: BaseModel | None
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


Result = BaseModel | Reply | web.StreamResponse | None
Handler = Callable[[Call], Awaitable[Result]]
Authenticate = Callable[[web.Request], Awaitable[Auth | None]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    access: Access = "user"
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response: Any = None
    status: int = 200
    produces: str = "application/json"
    csrf: bool = True


def field_errors(exc: ValidationError, prefix: str = "") -> dict[str, str]:
    """pydantic's errors as {"dotted.field": "sentence"}; each sentence is English and
    knows its translation (`console.field_sentences`), said when the problem is made."""
    errors: dict[str, str] = {}
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "body"
        errors[prefix + loc] = sentence(e)
    return errors


def _listed(errors: Mapping[str, str]) -> str:
    # Each sentence ends with its full stop; inside the list a semicolon is enough.
    return "; ".join(f"{k}: {v.rstrip('.')}" for k, v in errors.items())


def invalid(errors: Mapping[str, str]) -> ApiError:
    return ApiError(
        422,
        N_("The input is not valid: %(errors)s"),
        errors=dict(errors),
        params={"errors": _listed(errors)},
    )


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def sanitize(value: Any, where: str = "body") -> Any:
    """`value` (parsed JSON or a query) with NUL removed from every string and key,
    and whole floats (`11.0`) as integers.

    NUL is never meant and PostgreSQL cannot store it; a lone surrogate (`"\\ud800"`)
    cannot be encoded at all, so it is a 422 naming the field. Per-field cleaning of
    the other control characters is the models' job (`console.schemas`).
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise invalid({where: Sentence(N_("This is not valid Unicode text."))}) from None
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {
            sanitize(str(k), f"{where}.{k!r}"): sanitize(v, f"{where}.{k}")
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [sanitize(v, f"{where}.{i}") for i, v in enumerate(value)]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # JSON has one number type: 11.0 is the integer 11
    return value


def parse_query(model: type[M], request: web.Request) -> M:
    data = {k: sanitize(v, k) for k, v in request.query.items()}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(field_errors(exc)) from None


async def parse_body(model: type[M], request: web.Request) -> M:
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise ApiError(413, "The request body is larger than this endpoint accepts.")
    raw = await request.read()
    if not raw.strip():
        raise invalid(
            {"body": Sentence(N_("Send a JSON object ({} when every field is optional)."))}
        )
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise ApiError(400, "The body is not JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "The body must be a JSON object.")
    try:
        # Strict JSON validation: `false` or `1.5` is not an integer, "1" not a number,
        # as the OpenAPI document says (dates, times and UUIDs still come as strings).
        return model.model_validate_json(json.dumps(sanitize(data)), strict=True)
    except ValidationError as exc:
        raise invalid(field_errors(exc)) from None


MAX_PATH_PARAM = 200


def _check_path(request: web.Request) -> None:
    """Path parameters are names and ids: NUL, unencodable text or a very long value
    names nothing, and must never reach the database (PostgreSQL refuses NUL)."""
    for value in request.match_info.values():
        if len(value) > MAX_PATH_PARAM or "\x00" in value:
            raise ApiError(404, "There is nothing at this address.")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(404, "There is nothing at this address.") from None


def method_not_allowed(methods: Sequence[str]) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The handler for every undeclared method of a path: 405 with `Allow` (RFC 9110)."""
    allow = ", ".join(sorted(set(methods)))

    async def handle(request: web.Request) -> web.Response:
        return problem(
            405, f"This address does not accept {request.method}.", headers={"Allow": allow}
        )

    return handle


def _allowed(access: Access, auth: Auth | None) -> None:
    if access == "public":
        return
    if auth is None:
        raise ApiError(
            401,
            N_("Sign in, or send an API token as 'Authorization: Bearer <token>'."),
            headers={"WWW-Authenticate": 'Bearer realm="leadflow"'},
        )
    role = auth.who.role
    if access == "admin" and role != "admin":
        raise ApiError(403, N_("Only an admin may do this."))
    if access == "head" and role not in ("admin", "head"):
        raise ApiError(403, N_("Only a head of sales or an admin may do this."))


def _check_csrf(request: web.Request, auth: Auth | None) -> None:
    if auth is None or auth.via != "session" or request.method in READ_METHODS:
        return
    sent = request.headers.get("X-CSRF-Token", "")
    if not auth.csrf_token or not hmac.compare_digest(sent, auth.csrf_token):
        raise ApiError(403, N_("The CSRF token is missing or wrong: reload the page and retry."))


def _same(text: str) -> str:
    return text


def reader_translations(
    request: web.Request, auth: Auth | None, catalogs: Catalogs | None
) -> NullTranslations | None:
    """The caller's catalog: their console setting, else Accept-Language; None for a
    client that names neither (a script), who reads the English source."""
    if catalogs is None:
        return None
    setting = auth.who.language if auth is not None else None
    language = catalogs.match(setting, request.headers.get("Accept-Language"))
    return catalogs.get(language) if language else None


def reader_gettext(
    request: web.Request, auth: Auth | None, catalogs: Catalogs | None
) -> Callable[[str], str]:
    """The caller's language for a problem's sentence (see `reader_translations`)."""
    translations = reader_translations(request, auth, catalogs)
    return translations.gettext if translations is not None else _same


def _problem_for(exc: Exception, translations: NullTranslations | None = None) -> web.Response:
    gettext = translations.gettext if translations is not None else _same
    if isinstance(exc, ApiError):
        errors = exc.extra.get("errors")
        if translations is not None and isinstance(errors, Mapping):
            # The fields' sentences in the reader's language, in `errors` and in the
            # detail that lists them.
            said = translated(errors, translations)
            params = {**exc.params, "errors": _listed(said)} if "errors" in exc.params else None
            exc = ApiError(
                exc.status,
                exc.message,
                headers=exc.headers,
                params=params or exc.params,
                **{**exc.extra, "errors": said},
            )
        detail = exc.translated(gettext)
        if detail == exc.detail:
            return exc.response()
        return problem(
            exc.status,
            detail,
            headers=dict(exc.headers) if exc.headers else None,
            **exc.extra,
        )
    if isinstance(exc, NotFound):
        return problem(404, gettext(str(exc)))
    if isinstance(exc, WorkConflict | PeopleError):
        return problem(409, gettext(str(exc)))
    if isinstance(exc, IntegrityError):
        # A safety net: input that passed validation but breaks a constraint is the
        # caller's conflict, never a 500. Logged, because a check is missing upstream.
        log.warning("a write broke a database constraint: %s", exc.orig)
        return problem(409, "This conflicts with stored data (a name or value already used).")
    raise exc


def json_reply(result: Result, status: int) -> web.StreamResponse:
    if isinstance(result, web.StreamResponse):
        return result
    if isinstance(result, Reply):
        body = result.body.model_dump_json() if result.body is not None else None
        return web.Response(
            status=result.status,
            text=body,
            content_type="application/json" if body is not None else None,
            headers=dict(result.headers),
        )
    if result is None:
        return web.Response(status=204)
    return web.json_response(text=result.model_dump_json(), status=status)


def handler_for(
    endpoint: Endpoint, authenticate: Authenticate, catalogs: Catalogs | None = None
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        auth: Auth | None = None
        try:
            _check_path(request)
            auth = await authenticate(request)
            _allowed(endpoint.access, auth)
            if endpoint.csrf:
                _check_csrf(request, auth)
            query = parse_query(endpoint.query, request) if endpoint.query else None
            body = await parse_body(endpoint.body, request) if endpoint.body else None
            call = Call(request, auth, query, body, datetime.now(UTC))
            return json_reply(await endpoint.handler(call), endpoint.status)
        except (ApiError, NotFound, WorkConflict, PeopleError, IntegrityError) as exc:
            return _problem_for(exc, reader_translations(request, auth, catalogs))

    handle.__name__ = endpoint.handler.__name__
    return handle


@dataclass(frozen=True, slots=True)
class RouteSpec:
    tag: str | None
    method: str
    path: str
    summary: str
    access: Access | None
    query: type[BaseModel] | None
    body: type[BaseModel] | None
    response: Any
    status: int
    csrf: bool
    produces: str


F = TypeVar("F", bound=Callable[..., Any])


def route(
    method: str,
    path: str,
    summary: str,
    *,
    access: Access | None = None,
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    response: Any = None,
    status: int = 200,
    csrf: bool = True,
    tag: str | None = None,
    produces: str = "application/json",
) -> Callable[[F], F]:
    """Declare a method as an endpoint; `collect` gathers them from an instance."""
    spec = RouteSpec(
        tag, method, path, summary, access, query, body, response, status, csrf, produces
    )

    def mark(fn: F) -> F:
        fn.__dict__["_route"] = spec
        return fn

    return mark


def collect(owner: object, *, tag: str, access: Access = "user") -> list[Endpoint]:
    """The endpoints declared with `route` on `owner`'s class, in definition order."""
    found = []
    for name, attr in vars(type(owner)).items():
        spec: RouteSpec | None = getattr(attr, "_route", None)
        if spec is None:
            continue
        found.append(
            Endpoint(
                spec.method,
                spec.path,
                getattr(owner, name),
                spec.summary,
                spec.tag or tag,
                spec.access or access,
                query=spec.query,
                body=spec.body,
                response=spec.response,
                status=spec.status,
                csrf=spec.csrf,
                produces=spec.produces,
            )
        )
    return found
