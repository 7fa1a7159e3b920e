"""The poison trial: one hostile input of each kind at `leadflow up`'s doors, then
normal posts that must all become leads, with no 5xx on the way.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bench.chaos.common import Config, finish, prefix_for, up_role, workspace
from bench.chaos.faults import ADMIN_TOKEN
from bench.chaos.load import FormLoad
from bench.e2e import log, postgres_store


def _hostile_posts(prefix: str) -> list[tuple[str, dict[str, str], bytes, str]]:
    """(kind, headers, body, content type) for each hostile web-form post."""

    def form(i: int, **fields: str) -> bytes:
        body = {"name": "Poison", "email": f"{prefix}-p{i}@chaos.test", "message": "poison"}
        body.update(fields)
        return urlencode(body).encode()

    urlenc = "application/x-www-form-urlencoded"
    deep = b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    long = "x" * 5000
    return [
        ("name=a%00b", {}, form(1, name="a\x00b"), urlenc),
        ("name of 501 chars", {}, form(2, name="n" * 501), urlenc),
        ("Referer of 5,000 chars", {"Referer": "https://e.test/" + long}, form(3), urlenc),
        ("User-Agent of 5,000 chars", {"User-Agent": long}, form(4), urlenc),
        ("utm_source of 5,000 chars", {}, form(5, utm_source=long), urlenc),
        ("Idempotency-Key of 5,000 chars", {"Idempotency-Key": long}, form(6), urlenc),
        ("JSON nested 100,000 deep", {}, deep, "application/json"),
        (
            "invalid UTF-8 (JSON)",
            {},
            b'{"name": "\xff\xfe", "email": "a@b.test"}',
            "application/json",
        ),
        (
            "invalid UTF-8 (form)",
            {},
            b"name=\xff\xfe&email=" + prefix.encode() + b"-p9%40chaos.test",
            urlenc,
        ),
        ("X-Forwarded-For entry of 80 chars", {"X-Forwarded-For": "f" * 80}, form(10), urlenc),
    ]


async def _call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    json_body: Any = None,
) -> tuple[int, Any]:
    """(status, parsed JSON or text); status 0 when there was no answer."""
    try:
        async with http.request(method, url, headers=headers, data=data, json=json_body) as resp:
            text = await resp.text(errors="replace")
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, text[:300]
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return 0, repr(exc)


async def _admin_poison(http: aiohttp.ClientSession, url: str, prefix: str) -> list[dict[str, Any]]:
    """A 400-char company on a manual lead; a manager given `Europe/Moskow` and `25:00`."""
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    out: list[dict[str, Any]] = []
    status, _ = await _call(
        http,
        "POST",
        url + "/api/v1/leads",
        headers=auth,
        json_body={"name": "Poison", "email": f"{prefix}-p11@chaos.test", "company": "c" * 400},
    )
    out.append({"kind": "manual lead, company of 400 chars", "status": status})
    status, user = await _call(
        http,
        "POST",
        url + "/api/v1/admin/users",
        headers=auth,
        json_body={"email": f"{prefix}-moskow@chaos.test", "name": "Moskow Manager"},
    )
    user_id = user.get("id") if isinstance(user, dict) else None
    _, teams = await _call(http, "GET", url + "/api/v1/admin/teams", headers=auth)
    team_id = (
        next((t["id"] for t in (teams or {}).get("items", []) if t.get("name") == "Sales"), None)
        if isinstance(teams, dict)
        else None
    )
    if user_id is None or team_id is None:
        out.append({"kind": "manager setup", "status": status, "error": f"{user} {teams}"})
        return out
    status, _ = await _call(
        http,
        "PUT",
        f"{url}/api/v1/admin/teams/{team_id}/members/{user_id}",
        headers=auth,
        json_body={"capacity": 100_000},
    )
    if status >= 300:
        out.append({"kind": "manager joins Sales", "status": status})
    week = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    for kind, patch in (
        ("manager time zone Europe/Moskow", {"timezone": "Europe/Moskow"}),
        ("manager hours 09:00-25:00", {"working_hours": {d: [["09:00", "25:00"]] for d in week}}),
    ):
        status, _ = await _call(
            http, "PATCH", f"{url}/api/v1/admin/users/{user_id}", headers=auth, json_body=patch
        )
        out.append({"kind": kind, "status": status})
    return out


async def poison(cfg: Config, base: Path) -> list[dict[str, Any]]:
    """One hostile input of each kind, then normal posts that must all become leads."""
    name = "poison"
    ws = workspace(cfg, name, base)
    started = time.monotonic()
    async with postgres_store(cfg.pg_admin_dsn) as store:
        role = up_role(ws, store)
        await role.start()
        try:
            prefix = prefix_for(name)
            items: list[dict[str, Any]] = []
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
                for kind, headers, body, ctype in _hostile_posts(prefix):
                    status, _ = await _call(
                        http,
                        "POST",
                        role.url + "/forms/chaos",
                        headers={**headers, "Content-Type": ctype},
                        data=body,
                    )
                    items.append({"kind": kind, "status": status})
                items.extend(await _admin_poison(http, role.url, prefix))
            for item in items:
                log(f"{name}: {item['kind']}: {item['status']}")
            # The normal posts follow, at the trial rate, as many as asked.
            load = FormLoad(
                role.url + "/forms/chaos", prefix + "n", cfg.rate, count=cfg.poison_normal
            )
            async with load:
                await load.finished()
            hostile_5xx = sum(1 for i in items if i["status"] >= 500)
            row = await finish(
                name,
                store,
                load,
                [role],
                cfg,
                started,
                {
                    "faults": f"{len(items)} hostile inputs, then {cfg.poison_normal} normal posts",
                    "hostile": items,
                    "hostile_5xx": hostile_5xx,
                    "hostile_unanswered": sum(1 for i in items if i["status"] == 0),
                },
            )
            row["server_errors_5xx"] += hostile_5xx
        finally:
            await role.stop()
            ws.keep_logs()
    return [row]
