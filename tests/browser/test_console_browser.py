"""The console in Debian's Chromium, driven by Playwright, against the whole runtime.

LeadFlow runs in-process (`leadflow.runtime.run` with the demo seed, a temporary
SQLite file and the embedded broker, on a free port); the browser signs in with the
demo passwords the seed reports. Screenshots go to `test-artifacts/`. Without
Chromium these tests fail when CI=true and are skipped elsewhere.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, Page, async_playwright

from leadflow import runtime
from leadflow.settings import Settings

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2"> javascript:alert(3)'


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = (
        "Chromium is missing: apt-get install -y --no-install-recommends chromium "
        "(the browser tests drive /usr/bin/chromium through Playwright)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@asynccontextmanager
async def leadflow_running(tmp_path: Path) -> AsyncIterator[runtime.Started]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database={"url": f"sqlite+aiosqlite:///{tmp_path}/leadflow.db"},
        http={"port": 0},
    )
    stop = asyncio.Event()
    ready: asyncio.Future[runtime.Started] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        runtime.run(settings, demo=True, stop=stop, on_started=ready.set_result), name="leadflow"
    )
    try:
        yield await asyncio.wait_for(asyncio.shield(ready), 60)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    _require_chromium()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def sign_in(page: Page, base: str, email: str, password: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/queue")


async def post_form(base: str, slug: str, **fields: str) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{base}/forms/{slug}", data=fields) as resp,
    ):
        assert resp.status == 202, await resp.text()


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / name), full_page=True)


async def counter(page: Page, name: str) -> str:
    return (await page.text_content(f'[data-counter="{name}"]') or "").strip()


async def test_manager_sees_a_new_lead_live_completes_it_and_no_script_runs(tmp_path: Path) -> None:
    async with chromium() as browser, leadflow_running(tmp_path) as started:
        base = started.http_url
        anna = "anna.ivanova@demo.leadflow.test"
        page = await browser.new_page(viewport={"width": 1100, "height": 800})
        await sign_in(page, base, anna, started.seed.passwords[anna])
        assert await counter(page, "new_untouched") == "0"
        await post_form(
            base,
            "contact",
            name="Ivan Petrov",
            email="ivan@example.com",
            phone="8 (912) 345-67-89",
            message=XSS,
        )
        # No reload: the queue polls and swaps the new lead in.
        await page.wait_for_selector(".lead-row", timeout=20_000)
        await page.wait_for_function(
            "document.querySelector('[data-counter=new_untouched]').textContent.trim() === '1'",
            timeout=10_000,
        )
        badge = await page.get_attribute('[data-counter="overdue"] >> xpath=..', "class")
        assert badge is not None and "grey" in badge
        await shot(page, "queue-new-lead.png")
        await page.click(".lead-row a")
        await page.wait_for_selector("pre.message")
        assert "<script>window.__xss = 1</script>" in (await page.text_content("pre.message") or "")
        assert await page.evaluate("typeof window.__xss") == "undefined"
        assert await page.query_selector("a[href^='javascript']") is None
        await shot(page, "lead-card.png")
        await page.fill("form.complete input[name=result]", "Called Ivan: wants a demo on Friday")
        await page.click("form.complete button[type=submit]")
        await page.wait_for_selector("text=Nothing planned.", timeout=10_000)
        await page.goto(f"{base}/queue")
        assert await counter(page, "new_untouched") == "0"
        assert await page.evaluate("typeof window.__xss") == "undefined"
        await shot(page, "queue-after-first-contact.png")


async def test_admin_creates_a_form_and_its_embed_page_makes_a_lead(tmp_path: Path) -> None:
    async with chromium() as browser, leadflow_running(tmp_path) as started:
        base = started.http_url
        admin = "admin@leadflow.local"
        page = await browser.new_page(viewport={"width": 1100, "height": 900})
        await sign_in(page, base, admin, started.seed.passwords[admin])
        await page.goto(f"{base}/admin/forms")
        await page.fill("#new-form input[name=slug]", "demo-request")
        await page.fill("#new-form input[name=name]", "Request a demo")
        await page.click("#new-form button[type=submit]")
        await page.wait_for_selector('[data-form="demo-request"] textarea.snippet')
        snippet = await page.input_value('[data-form="demo-request"] textarea.snippet')
        assert f'<iframe src="{base}/forms/demo-request"' in snippet
        await shot(page, "admin-forms.png")
        await _wait_served(f"{base}/forms/demo-request")
        embed = tmp_path / "embed.html"
        embed.write_text(f"<!doctype html><h1>Partner site</h1>{snippet}")
        await page.goto(embed.as_uri())
        frame = page.frame_locator("iframe")
        await frame.locator("input[name=name]").fill("Olga from the partner site")
        await frame.locator("input[name=email]").fill("olga@partner.example")
        await frame.locator("textarea[name=message]").fill("Please show me a demo")
        await asyncio.sleep(3.2)  # a human takes a few seconds; the spam check knows
        await frame.locator("button[type=submit]").click()
        await _wait_lead(base, started.seed.admin_token or "", "olga@partner.example")
        await page.goto(f"{base}/queue?sort=newest")
        await page.wait_for_selector("text=Olga from the partner site")
        await shot(page, "admin-queue.png")
        await page.goto(f"{base}/reports")
        await page.wait_for_selector("svg.chart")
        await shot(page, "reports.png")


async def test_pages_need_a_session_and_work_on_a_phone(tmp_path: Path) -> None:
    async with chromium() as browser, leadflow_running(tmp_path) as started:
        base = started.http_url
        phone = await browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        await phone.goto(f"{base}/reports")
        assert phone.url.startswith(f"{base}/login")
        await phone.fill("input[name=email]", "boris.petrov@demo.leadflow.test")
        await phone.fill("input[name=password]", "wrong password")
        await phone.click("button[type=submit]")
        assert "wrong" in (await phone.text_content(".error") or "")
        boris = "boris.petrov@demo.leadflow.test"
        await sign_in(phone, base, boris, started.seed.passwords[boris])
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, "no horizontal scrolling on a phone"
        await shot(phone, "queue-phone.png")
        await phone.goto(f"{base}/admin/connectors")
        assert "Only an admin" in (await phone.text_content("main") or "")


async def _wait_served(url: str) -> None:
    deadline = time.monotonic() + 20
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            async with http.get(url) as resp:
                if resp.status == 200:
                    return
            await asyncio.sleep(0.5)
    raise AssertionError(f"{url} was not served within 20 s")


async def _wait_lead(base: str, token: str, email: str) -> None:
    deadline = time.monotonic() + 20
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        while time.monotonic() < deadline:
            async with http.get(f"{base}/api/v1/leads", params={"contact_email": email}) as resp:
                if (await resp.json())["total"] == 1:
                    return
            await asyncio.sleep(0.5)
    raise AssertionError(f"no lead for {email} within 20 s")
