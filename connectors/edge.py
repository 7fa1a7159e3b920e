"""What every HTTP edge (web forms, webhooks) shares: body reading, parsing, client IP.

Every edge answers errors as RFC 9457 problem+json and counts each outcome through
a `Count` callback (the runtime binds it to a Prometheus counter), so no connector
imports the metrics registry. Bodies are read under a deadline (`BODY_TIMEOUT`, set
on the application by the runtime); a client that sends too slowly gets 408, one
that goes away mid-body is logged at INFO, without a traceback. JSON must be UTF-8
and at most ~200 levels deep, urlencoded bodies UTF-8 (or their declared charset):
anything else is a 400 with a sentence, never a 500. `client_ip` reads
`X-Forwarded-For` right to left past the trusted proxies. Imports only
`ingest.contract` of ours.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from pydantic_core import from_json

from ingest.contract.limits import FIELDS_MAX, valid_ip
from ingest.contract.problem import BODY_TIMEOUT as BODY_TIMEOUT
from ingest.contract.problem import CLIENT_GONE, problem
from ingest.contract.problem import reads_own_body as reads_own_body

log = logging.getLogger(__name__)

DEFAULT_BODY_TIMEOUT_S = 30.0
# X-Forwarded-For: at most this many hops are read (from the right), and an entry
# longer than this is not an address.
FORWARDED_MAX_HOPS = 16
FORWARDED_ENTRY_MAX = 64
# Fields of an urlencoded body; more is not a form a person filled in.
FORM_FIELDS_MAX = FIELDS_MAX + 50

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


@asynccontextmanager
async def body_deadline(request: web.Request) -> AsyncIterator[None]:
    """Run a body read under the application's deadline; map a slow, gone or oversized
    client to a `WebhookProblem` (408, 400, 413) instead of a hung task or a 500."""
    timeout_s = request.config_dict.get(BODY_TIMEOUT, DEFAULT_BODY_TIMEOUT_S)
    try:
        async with asyncio.timeout(timeout_s):
            yield
    except TimeoutError as exc:
        log.info(
            "%s %s: body not received within %.0f s; cut off",
            request.method,
            request.path,
            timeout_s,
        )
        raise WebhookProblem(
            408,
            f"The request body did not arrive within {timeout_s:g} seconds.",
            "slow_body",
            headers={"Connection": "close"},
        ) from exc
    except (web.HTTPRequestEntityTooLarge, *CLIENT_GONE) as exc:
        raise _body_problem(request, exc) from exc


async def read_body(request: web.Request) -> bytes:
    """The raw body, read under the deadline (see `body_deadline`)."""
    if not request.content.is_eof():
        async with body_deadline(request):
            return await request.read()
    # The whole body has arrived (a form's usually comes with its headers): the read
    # cannot wait, so it needs no deadline, whose timer and context manager cost
    # ~10 us a request (issue 11). Its other failures are answered alike.
    try:
        return await request.read()
    except (web.HTTPRequestEntityTooLarge, *CLIENT_GONE) as exc:
        raise _body_problem(request, exc) from exc


def _body_problem(request: web.Request, exc: BaseException) -> WebhookProblem:
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return WebhookProblem(
            413, "The request body is larger than this endpoint accepts.", "too_large"
        )
    # The client went away: nobody is left to answer; not an error of ours, so no traceback.
    log.info("%s %s: the client went away mid-body (%s)", request.method, request.path, exc)
    return WebhookProblem(400, "The request body ended early.", "client_gone")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 that says where it is broken.

    UTF-8 only (RFC 8259), lone surrogate escapes refused, nesting bounded by the
    parser (a 100,000-deep array is refused at once rather than exhausting the stack).
    """
    try:
        body = from_json(raw)
    except ValueError as exc:
        raise WebhookProblem(400, _json_sentence(str(exc)), "malformed") from exc
    if not isinstance(body, dict):
        raise WebhookProblem(400, "The JSON body must be an object.", "malformed")
    return body


def _json_sentence(error: str) -> str:
    if "recursion limit" in error:
        return "The JSON body is nested too deeply."
    if "unicode" in error or "utf-8" in error.lower():
        return f"The body is not valid UTF-8 JSON text: {error}."
    return f"The body is not valid JSON: {error}."


def parse_urlencoded(raw: bytes, charset: str | None = None) -> list[tuple[str, str]]:
    """An `application/x-www-form-urlencoded` body as (name, value) pairs.

    Strictly UTF-8 (percent-escapes included) unless the Content-Type declares
    another charset, as a page in windows-1251 may.
    """
    encoding = charset or "utf-8"
    try:
        text = raw.decode(encoding)
        return parse_qsl(
            text,
            keep_blank_values=True,
            encoding=encoding,
            errors="strict",
            max_num_fields=FORM_FIELDS_MAX,
        )
    except LookupError as exc:
        raise WebhookProblem(
            400, f"The body's charset {charset!r} is not one we know.", "malformed"
        ) from exc
    except UnicodeDecodeError as exc:
        raise WebhookProblem(
            400, f"The form body is not valid {encoding.upper()} text.", "malformed"
        ) from exc
    except ValueError as exc:  # max_num_fields
        raise WebhookProblem(
            413, f"The form has more than {FORM_FIELDS_MAX} fields.", "too_large"
        ) from exc


Network = IPv4Network | IPv6Network


def client_ip(peer: str | None, forwarded: str | None, proxies: Sequence[Network]) -> str | None:
    """The submitting client's address: a valid IP, or None when not even the peer is one.

    `X-Forwarded-For` counts only when the peer is a trusted proxy; it is then read
    right to left (each proxy appends the address it saw), skipping trusted
    proxies, and the first other address is the client. Only the last
    `FORWARDED_MAX_HOPS` entries are read. An entry that is not an IP address (or is
    longer than `FORWARDED_ENTRY_MAX`) ends the walk: what lies left of it was
    written by whoever sent the request, so the last trusted hop is the answer.
    """
    nearest = valid_ip(peer)
    if nearest is None or not forwarded or not _trusted(nearest, proxies):
        return nearest
    for entry in reversed(forwarded.rsplit(",", FORWARDED_MAX_HOPS)[-FORWARDED_MAX_HOPS:]):
        address = _forwarded_address(entry)
        if address is None:
            return nearest
        nearest = address
        if not _trusted(address, proxies):
            return address
    return nearest


def _forwarded_address(entry: str) -> str | None:
    text = entry.strip()
    if len(text) > FORWARDED_ENTRY_MAX:
        return None
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    return valid_ip(text)


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    parsed = ip_address(address.split("%", 1)[0])
    return any(parsed in net for net in proxies)


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
