"""Phone-provider webhooks: Twilio voice status callbacks and the generic signed JSON.

`POST /webhooks/twilio/{name}` takes Twilio's form-encoded status callback and checks
`X-Twilio-Signature` against the URL Twilio called (the connector's `public_url` plus
the request path, else the request's own URL). `POST /webhooks/phone/{name}` takes a
`CallEvent` JSON signed with `X-LeadFlow-Timestamp` / `X-LeadFlow-Signature`; stale,
replayed or badly signed requests are refused, and a body that is not a `CallEvent`
gets a 422 naming each field. Both answer 200 only once the inquiry is durable in the
edge journal (503 otherwise). Imports only `ingest.contract` of ours.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from ingest.contract import Inquiry

from .config import PhoneWebhookConfig, TwilioConfig
from .edge import (
    Count,
    WebhookProblem,
    broker_unavailable,
    no_count,
    parse_json_object,
    parse_urlencoded,
    read_body,
    reads_own_body,
    unknown_connector,
)
from .outcome import Ignored, SignatureError
from .phone import (
    GENERIC_SIGNATURE_HEADER,
    GENERIC_TIMESTAMP_HEADER,
    TWILIO_SETTINGS_HEADER,
    TWILIO_SIGNATURE_HEADER,
    CallEvent,
    ReplayGuard,
    normalize_call_event,
    normalize_twilio_call,
    twilio_signature_algorithm,
    verify_generic_signature,
    verify_twilio_signature,
)
from .publisher import InquirySink, PublishFailed

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _PhoneEdge:
    def __init__(
        self,
        publisher: InquirySink,
        *,
        default_region: str,
        count_request: Count,
        count_event: Count,
        clock: Clock,
    ) -> None:
        self._publisher = publisher
        self._region = default_region
        self._count = count_request
        self._count_event = count_event
        self._clock = clock

    @reads_own_body
    async def _answer(self, request: web.Request) -> web.StreamResponse:
        try:
            outcome = await self._receive(request)
        except WebhookProblem as p:
            self._count(p.outcome)
            return p.response()
        self._count(outcome)
        return web.json_response({"status": outcome})

    async def _receive(self, request: web.Request) -> str:
        raise NotImplementedError

    async def _publish(self, outcome: Inquiry | Ignored, name: str) -> str:
        if isinstance(outcome, Ignored):
            self._count_event(f"ignored_{outcome.reason}")
            return "ignored"
        try:
            await self._publisher.publish(outcome)
        except PublishFailed as exc:
            log.warning("phone webhook %s: publish failed: %s", name, exc)
            raise broker_unavailable() from exc
        self._count_event("published")
        return "accepted"


class TwilioWebhook(_PhoneEdge):
    """`POST /webhooks/twilio/{name}`: Twilio voice status callbacks."""

    def __init__(
        self,
        publisher: InquirySink,
        accounts: Callable[[str], TwilioConfig | None],
        *,
        default_region: str = "RU",
        count_request: Count = no_count,
        count_event: Count = no_count,
        clock: Clock = _utc_now,
    ) -> None:
        super().__init__(
            publisher,
            default_region=default_region,
            count_request=count_request,
            count_event=count_event,
            clock=clock,
        )
        self._accounts = accounts

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/webhooks/twilio/{name}", self._answer)]

    async def _receive(self, request: web.Request) -> str:
        name = request.match_info["name"]
        account = self._accounts(name)
        if account is None:
            raise unknown_connector("Twilio", name)
        params = await _form(request)
        try:
            verify_twilio_signature(
                _signed_url(request, account),
                params,
                request.headers.get(TWILIO_SIGNATURE_HEADER),
                account.auth_token,
                algorithm=twilio_signature_algorithm(request.headers.get(TWILIO_SETTINGS_HEADER)),
            )
        except SignatureError as exc:
            raise WebhookProblem(403, str(exc), "bad_signature") from exc
        try:
            outcome = normalize_twilio_call(
                params,
                connector=account.name,
                team=account.team,
                default_region=self._region,
                received_at=self._clock(),
            )
        except ValueError as exc:
            raise WebhookProblem(422, str(exc), "invalid") from exc
        return await self._publish(outcome, name)


def _signed_url(request: web.Request, account: TwilioConfig) -> str:
    if account.public_url:
        return account.public_url.rstrip("/") + request.path_qs
    return str(request.url)


async def _form(request: web.Request) -> dict[str, str]:
    if request.content_type != "application/x-www-form-urlencoded":
        raise WebhookProblem(
            415,
            "Twilio status callbacks are application/x-www-form-urlencoded, "
            f"not {request.content_type or 'no content type'}.",
            "unsupported_media_type",
        )
    # Parsed here, not by aiohttp: invalid UTF-8 is a 400, never a 500.
    return dict(parse_urlencoded(await read_body(request), request.charset))


class GenericPhoneWebhook(_PhoneEdge):
    """`POST /webhooks/phone/{name}`: the documented, signed `CallEvent` JSON."""

    def __init__(
        self,
        publisher: InquirySink,
        hooks: Callable[[str], PhoneWebhookConfig | None],
        *,
        default_region: str = "RU",
        count_request: Count = no_count,
        count_event: Count = no_count,
        clock: Clock = _utc_now,
    ) -> None:
        super().__init__(
            publisher,
            default_region=default_region,
            count_request=count_request,
            count_event=count_event,
            clock=clock,
        )
        self._hooks = hooks
        self._guards: dict[str, ReplayGuard] = {}

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/webhooks/phone/{name}", self._answer)]

    async def _receive(self, request: web.Request) -> str:
        name = request.match_info["name"]
        hook = self._hooks(name)
        if hook is None:
            raise unknown_connector("phone webhook", name)
        raw = await read_body(request)
        signature = self._verify(request, raw, hook)
        guard = self._guards.setdefault(name, ReplayGuard())
        try:
            guard.check_and_remember(signature, self._clock())
        except SignatureError as exc:
            raise WebhookProblem(403, str(exc), "replayed") from exc
        try:
            event = _call_event(parse_json_object(raw))
            try:
                inquiry = normalize_call_event(
                    event,
                    provider=hook.provider,
                    connector=hook.name,
                    team=hook.team,
                    default_region=self._region,
                )
            except ValueError as exc:  # a value past the contract's limits
                raise WebhookProblem(422, str(exc), "invalid") from exc
            return await self._publish(inquiry, name)
        except WebhookProblem:
            guard.forget(signature)  # the sender may fix and retry, or retry after a 503
            raise

    def _verify(self, request: web.Request, raw: bytes, hook: PhoneWebhookConfig) -> str:
        timestamp = request.headers.get(GENERIC_TIMESTAMP_HEADER)
        signature = request.headers.get(GENERIC_SIGNATURE_HEADER)
        if not timestamp or not signature:
            raise WebhookProblem(
                401,
                f"Sign the request: it needs {GENERIC_TIMESTAMP_HEADER} and "
                f"{GENERIC_SIGNATURE_HEADER} headers.",
                "unsigned",
            )
        try:
            verify_generic_signature(raw, timestamp, signature, hook.secret, self._clock())
        except SignatureError as exc:
            sentence = str(exc)
            outcome = "stale" if "too old" in sentence or "future" in sentence else "bad_signature"
            raise WebhookProblem(403, str(exc), outcome) from exc
        return signature


def _call_event(body: dict[str, Any]) -> CallEvent:
    try:
        return CallEvent.model_validate(body)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"]}
            for e in exc.errors(include_url=False)
        ]
        sentence = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        raise WebhookProblem(
            422, f"The body is not a CallEvent. {sentence}.", "invalid", errors=errors
        ) from exc
