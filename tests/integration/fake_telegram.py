"""A local fake of the Telegram Bot API: `/bot{token}/{method}` on an aiohttp server.

It answers getMe, getUpdates (serving `updates` from the requested offset, and
recording every offset asked for), sendMessage (recording what was sent),
setWebhook and deleteWebhook, and decodes PTB's form-encoded, JSON-valued params.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


class FakeBotApi:
    def __init__(self, updates: list[dict[str, Any]] | None = None) -> None:
        self.updates = list(updates or [])
        self.offsets: list[int | None] = []
        self.sent: list[dict[str, Any]] = []
        self.webhooks: list[dict[str, Any]] = []
        self.calls: list[str] = []

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            yield str(server.make_url("")).rstrip("/")
        finally:
            await server.close()

    async def _handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        params = await _params(request)
        self.calls.append(method)
        handler = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
        }.get(method)
        if handler is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        result = await handler(token, params)
        return web.json_response({"ok": True, "result": result})

    async def _get_me(self, token: str, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": int(token.split(":")[0]),
            "is_bot": True,
            "first_name": "Acme Sales",
            "username": "acme_sales_bot",
        }

    async def _get_updates(self, token: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = params.get("offset")
        self.offsets.append(offset)
        pending = [u for u in self.updates if offset is None or u["update_id"] >= offset]
        if not pending:
            await asyncio.sleep(0.05)  # a (very) short long poll
        return pending

    async def _send_message(self, token: str, params: dict[str, Any]) -> dict[str, Any]:
        self.sent.append(params)
        return {
            "message_id": len(self.sent),
            "date": 1718870400,
            "chat": {"id": int(params["chat_id"]), "type": "private"},
            "text": params["text"],
        }

    async def _set_webhook(self, token: str, params: dict[str, Any]) -> bool:
        self.webhooks.append(params)
        return True

    async def _delete_webhook(self, token: str, params: dict[str, Any]) -> bool:
        return True


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        body = await request.json()
        return dict(body) if isinstance(body, dict) else {}
    posted = await request.post()
    out: dict[str, Any] = {}
    for name, value in posted.items():
        if not isinstance(value, str):
            continue
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError:
            out[name] = value
    return out
