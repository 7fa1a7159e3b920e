"""The WhatsApp Business Cloud API webhook: `GET`/`POST /webhooks/whatsapp/{name}`.

`GET` answers Meta's subscription handshake (echoes `hub.challenge` when
`hub.verify_token` matches). `POST` checks `X-Hub-Signature-256` on the raw body
(403 when missing or wrong), publishes one inquiry per customer message and answers
200 only once every one is durable in the edge journal (503 otherwise: Meta retries,
and the message ids as idempotency keys make the retry harmless). Status events are
counted and answered 200. Imports only `ingest.contract` of ours.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from ingest.contract import Inquiry

from .config import WhatsAppConfig
from .edge import (
    Count,
    WebhookProblem,
    broker_unavailable,
    no_count,
    parse_json_object,
    read_body,
    reads_own_body,
    unknown_connector,
)
from .outcome import Ignored, SignatureError
from .publisher import InquirySink, PublishFailed
from .whatsapp import (
    SIGNATURE_HEADER,
    classify_whatsapp_payload,
    verify_signature,
    verify_subscription,
)

log = logging.getLogger(__name__)

WhatsAppLookup = Callable[[str], WhatsAppConfig | None]


class WhatsAppWebhook:
    """aiohttp routes for every configured WhatsApp app."""

    def __init__(
        self,
        publisher: InquirySink,
        apps: WhatsAppLookup,
        *,
        default_region: str = "RU",
        count_request: Count = no_count,
        count_event: Count = no_count,
    ) -> None:
        self._publisher = publisher
        self._apps = apps
        self._region = default_region
        self._count = count_request
        self._count_event = count_event

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/webhooks/whatsapp/{name}", self.verify),
            web.post("/webhooks/whatsapp/{name}", self.receive),
        ]

    def _app(self, request: web.Request) -> WhatsAppConfig:
        name = request.match_info["name"]
        app = self._apps(name)
        if app is None:
            raise unknown_connector("WhatsApp", name)
        return app

    async def verify(self, request: web.Request) -> web.StreamResponse:
        try:
            app = self._app(request)
            challenge = _challenge(dict(request.query), app.verify_token)
        except WebhookProblem as p:
            self._count(p.outcome)
            return p.response()
        self._count("verified")
        return web.Response(text=challenge, content_type="text/plain")

    @reads_own_body
    async def receive(self, request: web.Request) -> web.StreamResponse:
        try:
            outcome = await self._receive(request)
        except WebhookProblem as p:
            self._count(p.outcome)
            return p.response()
        self._count(outcome)
        return web.json_response({"status": outcome})

    async def _receive(self, request: web.Request) -> str:
        app = self._app(request)
        raw = await read_body(request)
        try:
            verify_signature(raw, request.headers.get(SIGNATURE_HEADER), app.app_secret)
        except SignatureError as exc:
            raise WebhookProblem(403, str(exc), "bad_signature") from exc
        payload = parse_json_object(raw)
        try:
            events = classify_whatsapp_payload(
                payload, connector=app.name, team=app.team, default_region=self._region
            )
        except ValueError as exc:
            raise WebhookProblem(422, str(exc), "invalid") from exc
        inquiries = [e for e in events if isinstance(e, Inquiry)]
        for event in events:
            if isinstance(event, Ignored):
                self._count_event(f"ignored_{event.reason}")
        try:
            for inquiry in inquiries:
                await self._publisher.publish(inquiry)
                self._count_event("published")
        except PublishFailed as exc:
            log.warning("whatsapp %s: publish failed: %s", app.name, exc)
            raise broker_unavailable() from exc
        return "accepted" if inquiries else "ignored"


def _challenge(params: dict[str, str], verify_token: str) -> str:
    try:
        return verify_subscription(params, verify_token)
    except SignatureError as exc:
        raise WebhookProblem(403, str(exc), "bad_verify_token") from exc
    except ValueError as exc:
        raise WebhookProblem(400, str(exc), "malformed") from exc
