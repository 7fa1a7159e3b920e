"""The web-form channel: `POST /forms/{slug}` in, one `Inquiry` out (journal, then Kafka).

`normalize_submission` (`form_submission`, re-exported here) is the pure part (form
definition + submitted fields → Inquiry, or `FormRejected` with per-field reasons);
`WebFormConnector` is the aiohttp edge: body parsing (strict UTF-8, bounded JSON
depth, a read deadline), CORS, size limits, redirects, and a 202 only once the
inquiry is durable (the edge journal's commit). A refused plain HTML post (a
browser: form encoding and Accept text/html) gets the form page again with a 422
(`form_page`); JSON and fetch clients get problem+json. Imports only
`ingest.contract` of ours; forms are handed in as data.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from ipaddress import ip_network

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import ValidationError

from ingest.contract.problem import problem
from ingest.contract.render_token import make_render_token, read_render_token

from .edge import (
    WebhookProblem,
    body_deadline,
    client_ip,
    parse_json_object,
    parse_urlencoded,
    read_body,
    reads_own_body,
)
from .form_page import FormPages, field_messages
from .form_submission import (
    FIELD_LIMITS,
    FormConfig,
    FormField,
    FormRejected,
    Submission,
    normalize_submission,
)
from .publisher import InquirySink, PublishFailed

__all__ = [
    "FIELD_LIMITS",
    "FormConfig",
    "FormField",
    "FormLookup",
    "FormRejected",
    "Submission",
    "WebFormConnector",
    "normalize_submission",
]

log = logging.getLogger(__name__)

SUBMISSION_ID_FIELD = "_submission_id"
RENDER_TOKEN_FIELD = "_rt"  # noqa: S105 (a field name, not a secret)

FormLookup = Callable[[str], FormConfig | None]


class WebFormConnector:
    """aiohttp routes for every configured form."""

    def __init__(
        self,
        publisher: InquirySink,
        forms: FormLookup,
        *,
        default_region: str = "RU",
        trusted_proxies: Sequence[str] = (),
        on_outcome: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        render_secret: bytes | None = None,
    ) -> None:
        self._render_secret = render_secret
        self._publisher = publisher
        self._forms = forms
        self._region = default_region
        self._proxies = tuple(ip_network(p, strict=False) for p in trusted_proxies)
        self._count = on_outcome or (lambda _outcome: None)
        self._clock = clock
        self._pages = FormPages()

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/forms/{slug}", self.page),
            web.post("/forms/{slug}", self.submit),
            web.options("/forms/{slug}", self.preflight),
            web.get("/forms/{slug}/thanks", self.thanks),
            web.get("/forms/{slug}/token", self.token),
        ]

    def _form(self, request: web.Request) -> FormConfig:
        form = self._forms(request.match_info["slug"])
        if form is None:
            raise _Problem(404, f"There is no form called {request.match_info['slug']!r}.")
        return form

    async def page(self, request: web.Request) -> web.StreamResponse:
        try:
            form = self._form(request)
        except _Problem as p:
            return p.response()
        language = self._pages.language(form, request.headers.get("Accept-Language"))
        html = self._pages.form(
            form, language, submission_id=uuid.uuid4().hex, render_token=self._token(form, None)
        )
        return _page(html, form, language)

    async def thanks(self, request: web.Request) -> web.StreamResponse:
        try:
            form = self._form(request)
        except _Problem as p:
            return p.response()
        language = self._pages.language(form, request.headers.get("Accept-Language"))
        return _page(self._pages.thanks(form, language), form, language)

    async def token(self, request: web.Request) -> web.StreamResponse:
        """A fresh render token and submission id for a copy of the form embedded on
        another site (its snippet's script asks), so its posts are timed like ours."""
        try:
            form = self._form(request)
            headers = self._cors_headers(form, request)
        except _Problem as p:
            return p.response()
        body = {"render_token": self._token(form, None), "submission_id": uuid.uuid4().hex}
        return web.json_response(body, headers={**headers, "Cache-Control": "no-store"})

    def _token(self, form: FormConfig, posted: str | None) -> str | None:
        """A render token for the page: the posted one while it is valid, so the time
        spent filling the form in counts from its first showing."""
        if self._render_secret is None:
            return None
        if posted and read_render_token(self._render_secret, posted, form.slug) is not None:
            return posted
        return make_render_token(self._render_secret, form.slug, self._clock())

    def _refused_page(
        self,
        request: web.Request,
        form: FormConfig,
        sub: Submission,
        rejected: FormRejected,
        headers: Mapping[str, str],
    ) -> web.Response:
        """The form again, as the person filled it in, with why beside each field."""
        language = self._pages.language(form, request.headers.get("Accept-Language"))
        html = self._pages.form(
            form,
            language,
            submission_id=uuid.uuid4().hex,
            render_token=self._token(form, sub.render_token),
            values=sub.data,
            errors=field_messages(form, sub.data, rejected, FIELD_LIMITS),
        )
        return _page(html, form, language, status=422, headers=headers)

    async def preflight(self, request: web.Request) -> web.StreamResponse:
        try:
            form = self._form(request)
            headers = self._cors_headers(form, request)
        except _Problem as p:
            return p.response()
        headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        headers["Access-Control-Allow-Headers"] = "Content-Type, Idempotency-Key"
        headers["Access-Control-Max-Age"] = "600"
        return web.Response(status=204, headers=headers)

    @reads_own_body
    async def submit(self, request: web.Request) -> web.StreamResponse:
        try:
            form = self._form(request)
            cors = self._cors_headers(form, request)
            data, is_html_form = await self._read_body(request)
        except (_Problem, WebhookProblem) as p:
            self._count(f"rejected_{p.status}")
            return problem(p.status, p.detail, headers=p.headers)
        sub = Submission(
            data=data,
            received_at=self._clock(),
            client_ip=client_ip(
                request.remote, request.headers.get("X-Forwarded-For"), self._proxies
            ),
            user_agent=request.headers.get("User-Agent"),
            referrer=request.headers.get("Referer"),
            submission_id=request.headers.get("Idempotency-Key") or data.get(SUBMISSION_ID_FIELD),
            render_token=data.get(RENDER_TOKEN_FIELD),
        )
        try:
            outcome = normalize_submission(form, sub, default_region=self._region)
        except ValidationError as exc:  # a limit this edge did not check first
            outcome = _rejected(exc)
        if isinstance(outcome, FormRejected):
            self._count("rejected_422")
            if is_html_form:
                return self._refused_page(request, form, sub, outcome, cors)
            return problem(
                422,
                f"The form was not accepted. {outcome.sentence()}",
                errors=dict(outcome.errors),
                headers=cors,
            )
        try:
            await self._publisher.publish(outcome)
        except PublishFailed as exc:
            self._count("broker_unavailable")
            log.warning("form %s: publish failed: %s", form.slug, exc)
            return problem(
                503,
                "We could not record your request just now; please try again in a moment.",
                headers={**cors, "Retry-After": "5"},
            )
        self._count("accepted")
        if is_html_form and form.redirect_url is not None:
            raise web.HTTPSeeOther(form.redirect_url, headers=cors)
        if is_html_form:
            raise web.HTTPSeeOther(f"/forms/{form.slug}/thanks", headers=cors)
        return _accepted(outcome.id, cors)

    def _cors_headers(self, form: FormConfig, request: web.Request) -> dict[str, str]:
        origin = request.headers.get("Origin")
        if origin is None or origin == "null":
            return {}
        own = f"{request.scheme}://{request.host}"
        if origin == own:
            return {}
        if not form.allows_origin(origin):
            raise _Problem(403, f"This form does not accept submissions from {origin}.")
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    async def _read_body(self, request: web.Request) -> tuple[dict[str, str], bool]:
        ctype = request.content_type
        html = "text/html" in request.headers.get("Accept", "")
        if ctype == "application/x-www-form-urlencoded":
            raw = await read_body(request)
            return _first_values(parse_urlencoded(raw, request.charset)), html
        if ctype == "multipart/form-data":
            try:
                async with body_deadline(request):
                    posted = await request.post()
            except (UnicodeDecodeError, ValueError) as exc:
                raise _Problem(400, "The multipart form is not valid UTF-8 form data.") from exc
            return _flatten(posted), html
        if ctype == "application/json":
            raw = await read_body(request)
            body = parse_json_object(raw)
            return {str(k): _as_text(v) for k, v in body.items() if v is not None}, False
        raise _Problem(
            415,
            "Send the form as application/x-www-form-urlencoded, multipart/form-data "
            f"or application/json, not {ctype or 'no content type'}.",
        )


def _page(
    html: str,
    form: FormConfig,
    language: str,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    out = {**(headers or {}), "Content-Language": language}
    if form.language is None:
        out["Vary"] = ", ".join(v for v in (out.get("Vary"), "Accept-Language") if v)
    return web.Response(text=html, status=status, content_type="text/html", headers=out)


def _accepted(inquiry_id: uuid.UUID, headers: Mapping[str, str]) -> web.Response:
    """The 202, as `web.json_response({"status": "accepted", "inquiry_id": ...})` writes
    it, without running `json.dumps` over a fixed shape (a UUID needs no escaping)."""
    text = f'{{"status": "accepted", "inquiry_id": "{inquiry_id}"}}'
    return web.Response(text=text, status=202, headers=headers, content_type="application/json")


def _rejected(exc: ValidationError) -> FormRejected:
    errors = {
        ".".join(str(p) for p in e["loc"]) or "_form": str(e["msg"])
        for e in exc.errors(include_url=False)
    }
    return FormRejected(errors)


def _first_values(pairs: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in pairs:
        out.setdefault(name, value)
    return out


def _flatten(posted: MultiDictProxy[str | bytes | bytearray | web.FileField]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in posted.items():
        if isinstance(value, str):
            out.setdefault(name, value)
        elif isinstance(value, bytes | bytearray):
            out.setdefault(name, bytes(value).decode("utf-8", "replace"))
        else:
            out.setdefault(name, f"[file {value.filename}]")
    return out


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


class _Problem(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers: dict[str, str] | None = None

    def response(self) -> web.Response:
        return problem(self.status, self.detail)
