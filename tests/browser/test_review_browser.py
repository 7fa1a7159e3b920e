"""The review page in Chromium, against the whole runtime: a head clicks "This is a
real inquiry" on a repeat that was appended to an open lead, and it becomes a lead of
its own through the journal, the embedded broker and the consumer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from .test_console_browser import chromium, doc_shot, leadflow_running, post_form, shot, sign_in

pytestmark = pytest.mark.integration

HELEN = "helen.head@demo.leadflow.test"


async def leads(base: str, token: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{base}/api/v1/leads", headers={"Authorization": f"Bearer {token}"}) as resp,
    ):
        assert resp.status == 200
        found: dict[str, Any] = await resp.json()
        return found


async def until_leads(base: str, token: str, n: int) -> dict[str, Any]:
    async with asyncio.timeout(20):
        while (page := await leads(base, token))["total"] != n:  # noqa: ASYNC110 (polling the API)
            await asyncio.sleep(0.2)
    return page


async def test_a_head_makes_a_repeat_a_lead_from_the_review_page(tmp_path: Path) -> None:
    async with chromium() as browser, leadflow_running(tmp_path) as started:
        base, token = started.http_url, started.seed.admin_token
        assert token is not None
        who = {"name": "Olga Kim", "email": "olga@hotel-vega.test"}
        await post_form(base, "contact", message="Renovation of 40 rooms", **who)
        await until_leads(base, token, 1)
        await post_form(base, "contact", message="And a separate spa project", **who)

        page = await browser.new_page(viewport={"width": 1100, "height": 800})
        await sign_in(page, base, HELEN, started.seed.passwords[HELEN])
        await page.click("nav a[href='/review']")
        row = page.locator("tr[data-review]", has_text="And a separate spa project")
        await row.wait_for(timeout=20_000)
        assert "Повтор по открытому лиду" in (await row.text_content() or "")  # Helen reads Russian
        await shot(page, "review-list.png")
        await doc_shot(page, "console-review.png")
        await row.locator("button", has_text="Это настоящее обращение").click()
        await page.wait_for_selector("text=Разбирать нечего.", timeout=10_000)

        made = await until_leads(base, token, 2)
        texts = {item["text"] for item in made["items"]}
        assert texts == {"Renovation of 40 rooms", "And a separate spa project"}
        assert all(item["assignee"] is not None for item in made["items"])
        await page.goto(f"{base}/review?state=reviewed")
        assert "стало лидом" in (await page.text_content("table.review") or "")
        await shot(page, "review-made-lead.png")
