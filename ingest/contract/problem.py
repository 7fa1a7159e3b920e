"""RFC 9457 problem+json responses: the one error shape of every HTTP endpoint.

Part of the public contract, like `Inquiry`, so connectors and the console answer
errors identically without importing each other. `problem_middleware` also guards
every body: when the application sets `BODY_TIMEOUT`, it reads the body under that
deadline before the handler runs (408 past it), unless the handler is marked
`reads_own_body` (the connectors read under the same deadline and count the
outcome themselves); and a client that goes away mid-request is logged at INFO,
without a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

log = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
# Seconds a client has to send its whole body; the runtime sets it from settings.
BODY_TIMEOUT = web.AppKey("body_timeout_s", float)
# A peer that closed mid-body surfaces as one of these, depending on the moment.
CLIENT_GONE = (ConnectionResetError, web.RequestPayloadError, asyncio.IncompleteReadError)

Handler = TypeVar("Handler", bound=Callable[..., Awaitable[web.StreamResponse]])

_TITLES = {
    400: "Bad Request",
    408: "Request Timeout",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    503: "Service Unavailable",
}


def problem(
    status: int,
    detail: str,
    *,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    """A problem+json response whose `detail` is a sentence a developer understands."""
    body: dict[str, Any] = {
        "type": type_,
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }
    return web.Response(
        status=status,
        body=json.dumps(body, ensure_ascii=False).encode(),
        content_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


def reads_own_body(handler: Handler) -> Handler:
    """Mark a handler that reads its body under `BODY_TIMEOUT` itself."""
    handler.reads_own_body = True  # type: ignore[attr-defined]
    return handler


@web.middleware
async def problem_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Turn aiohttp's own HTTP errors (404, 405, 413 ...) into problem+json; read the
    body under the deadline; a client gone mid-request is an INFO line."""
    try:
        early = await _read_body_in_time(request)
        if early is not None:
            return early
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        detail = _detail_for(exc)
        return problem(exc.status, detail)
    except CLIENT_GONE as exc:
        if request.transport is not None and not request.transport.is_closing():
            raise  # not the client: one of our own connections failed
        log.info("%s %s: the client went away mid-request (%s)", request.method, request.path, exc)
        return problem(400, "The request ended early.")


async def _read_body_in_time(request: web.Request) -> web.Response | None:
    if getattr(request.match_info.handler, "reads_own_body", False):
        return None  # asked first: the application's config is a chain of lookups
    timeout_s = request.config_dict.get(BODY_TIMEOUT)
    if (
        timeout_s is None
        or not request.body_exists
        or request.content_type == "multipart/form-data"  # read as a stream, not cached
    ):
        return None
    try:
        async with asyncio.timeout(timeout_s):
            await request.read()  # cached: the handler's read, json() or post() reuse it
    except TimeoutError:
        log.info(
            "%s %s: body not received within %g s; cut off", request.method, request.path, timeout_s
        )
        return problem(
            408,
            f"The request body did not arrive within {timeout_s:g} seconds.",
            headers={"Connection": "close"},
        )
    return None


def _detail_for(exc: web.HTTPException) -> str:
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return "The request body is larger than this endpoint accepts."
    if isinstance(exc, web.HTTPNotFound):
        return "There is nothing at this address."
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return f"This address does not accept {exc.method}."
    return exc.text or exc.reason
