"""Small helpers shared by the webhook edges: outcome counting and body reading.

Every webhook answers errors as RFC 9457 problem+json and counts each outcome
through a `Count` callback (the runtime binds it to a Prometheus counter), so no
connector imports the metrics registry. Imports only `ingest.contract` of ours.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ingest.contract.problem import problem

Count = Callable[[str], None]
# (connector name, None on success or the error sentence): the runtime stores it.
ReportHealth = Callable[[str, str | None], Awaitable[None]]


def no_count(_outcome: str) -> None:
    """The default `Count`: count nothing."""


class WebhookProblem(Exception):
    """An answer to send instead of going on; `outcome` is the metric label."""

    def __init__(
        self,
        status: int,
        detail: str,
        outcome: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.outcome = outcome
        self.headers = headers
        self.extra = extra

    def response(self) -> web.Response:
        return problem(self.status, self.detail, headers=self.headers, **self.extra)


async def read_body(request: web.Request) -> bytes:
    """The raw body; an oversized one is a counted 413 instead of aiohttp's bare error."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise WebhookProblem(
            413, "The request body is larger than this endpoint accepts.", "too_large"
        ) from exc


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 that says where it is broken."""
    try:
        body = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise WebhookProblem(400, "The body is not UTF-8 text.", "malformed") from exc
    except json.JSONDecodeError as exc:
        raise WebhookProblem(
            400,
            f"The body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.",
            "malformed",
        ) from exc
    if not isinstance(body, dict):
        raise WebhookProblem(400, "The JSON body must be an object.", "malformed")
    return body


def unknown_connector(kind: str, name: str) -> WebhookProblem:
    return WebhookProblem(
        404, f"There is no {kind} connector called {name!r}.", "unknown_connector"
    )


def broker_unavailable() -> WebhookProblem:
    return WebhookProblem(
        503,
        "The message could not be recorded just now; it will be accepted on retry.",
        "broker_unavailable",
        headers={"Retry-After": "5"},
    )


async def no_health(_name: str, _error: str | None) -> None:
    """The default `ReportHealth`: report nothing."""
