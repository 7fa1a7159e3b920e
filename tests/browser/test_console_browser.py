# ruff: noqa: RUF001  (Russian text: Cyrillic letters are intended)
"""The console in Debian's Chromium, driven by Playwright, against the whole runtime.

LeadFlow runs in-process (`leadflow.runtime.run` with the demo seed, a temporary
SQLite file and the embedded broker, on a free port); the browser signs in with the
demo passwords the seed reports. The demo team reads the console in Russian (their
setting) in Europe/Moscow; the admin has no setting, so Chromium's Accept-Language
(English) decides. Screenshots go to `test-artifacts/`. Without Chromium these tests
fail when CI=true and are skipped elsewhere.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Locator, Page, async_playwright

from leadflow import runtime
from leadflow.seed import Started
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
DOCS = Path(__file__).resolve().parents[2] / "docs"
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
async def leadflow_running(tmp_path: Path) -> AsyncIterator[Started]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database={"url": f"sqlite+aiosqlite:///{tmp_path}/leadflow.db"},
        http={"port": 0},
    )
    stop = asyncio.Event()
    ready: asyncio.Future[Started] = asyncio.get_running_loop().create_future()
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


async def api(
    base: str, token: str, path: str, *, method: str = "GET", body: Any = None, **params: str
) -> Any:
    """The console API as `token`: the JSON answer (None for 204); any error fails the test."""
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
        http.request(method, f"{base}{path}", json=body, params=params) as resp,
    ):
        assert resp.status < 300, await resp.text()
        return await resp.json() if resp.status != 204 else None


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / name), full_page=True)


async def doc_shot(what: Page | Locator, name: str, *, full_page: bool = False) -> None:
    """A screenshot shown in the docs (a page, or one element of it): into
    test-artifacts/ always, and over the one in docs/ only under `make screenshots`,
    so a test run leaves the tree unchanged."""
    ARTIFACTS.mkdir(exist_ok=True)
    targets = [ARTIFACTS / name]
    if os.environ.get("LEADFLOW_DOC_SHOTS") == "1":
        targets.append(DOCS / name)
    for path in targets:
        if isinstance(what, Page):
            await what.screenshot(path=str(path), full_page=full_page)
        else:
            await what.screenshot(path=str(path))


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
            # A bare payload is rightly junk now (the shipped spam model): the probe
            # rides inside a real request, as an attacker's would to reach a queue.
            message="Добрый день! Нужен счёт на 3 шт. " + XSS,
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
        await page.wait_for_selector("text=Ничего не запланировано.", timeout=10_000)
        await page.goto(f"{base}/queue")
        assert await counter(page, "new_untouched") == "0"
        assert await page.evaluate("typeof window.__xss") == "undefined"
        await shot(page, "queue-after-first-contact.png")
        # The header's search box finds the lead by its phone written another way.
        await page.fill("header .search input[name=q]", "+7 912 345 67 89")
        await page.press("header .search input[name=q]", "Enter")
        await page.wait_for_url(re.compile(r"/search\?q="))
        assert await page.locator("#search-leads .lead-row").count() == 1
        assert "Ivan Petrov" in (await page.text_content("#search-contacts") or "")


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
        heights = await phone.eval_on_selector_all(
            ".top a, .top button", "els => els.map(e => e.getBoundingClientRect().height)"
        )
        assert len(heights) >= 3 and min(heights) >= 40, f"tap targets in the header: {heights}"
        await shot(phone, "queue-phone.png")
        icon = await phone.goto(f"{base}/favicon.ico")
        assert icon is not None and icon.ok
        assert icon.headers["content-type"] == "image/svg+xml"
        await phone.goto(f"{base}/admin/connectors")
        only_admin = "Эту страницу может открыть только администратор."
        assert only_admin in (await phone.text_content("main") or "")


async def test_a_moscow_manager_in_a_new_york_browser_plans_in_moscow_time(
    tmp_path: Path,
) -> None:
    async with chromium() as browser, leadflow_running(tmp_path) as started:
        base = started.http_url
        anna = "anna.ivanova@demo.leadflow.test"  # the demo team works in Europe/Moscow
        context = await browser.new_context(
            timezone_id="America/New_York", viewport={"width": 1100, "height": 900}
        )
        page = await context.new_page()
        await sign_in(page, base, anna, started.seed.passwords[anna])
        await post_form(
            base,
            "contact",
            name="Olga Smirnova",
            email="olga@example.com",
            phone="8 (912) 345-67-89",
            message="We need 20 licenses, please call me back",
        )
        await page.wait_for_selector(".lead-row", timeout=20_000)
        assert "MSK" in (await page.text_content(".lead-row .due") or "")
        assert re.fullmatch(r"через \d+ мин", await page.text_content(".lead-row .relative") or "")
        await page.click(".lead-row a")
        await page.fill("form.complete input[name=result]", "Called, a demo later today")
        await page.click("form.complete summary")
        await page.fill("form.complete input[name='next.subject']", "Demo call")
        before = datetime.now(UTC)
        await page.click("form.complete button[type=submit]")
        await page.wait_for_selector(".todo >> text=Demo call", timeout=10_000)
        after = datetime.now(UTC)
        # The prefilled hour ahead is an hour ahead: not 2 h ago (UTC read as local),
        # not 8 h ahead (Moscow wall time read in the browser's New York zone).
        assert await page.query_selector(".todo.overdue") is None
        assert re.fullmatch(r"через (5\d|60) мин", await page.text_content(".todo .relative") or "")
        due = await _planned_due(base, started.seed.admin_token or "", "olga@example.com")
        assert before + timedelta(minutes=58) <= due <= after + timedelta(hours=1)
        await shot(page, "lead-card-moscow.png")
        await context.close()


# A date as CLDR writes it in each language (Babel's medium date, short time).
RU_WHEN = re.compile(r"\d{1,2} [а-я]{3,4}\.? \d{4}\s?г\., \d{2}:\d{2} MSK")
EN_WHEN = re.compile(r"[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}\s[AP]M E[SD]T")


async def test_a_russian_manager_in_moscow_works_the_queue_and_a_lead_in_russian(
    tmp_path: Path,
) -> None:
    async with chromium() as browser, leadflow_running(tmp_path) as started:
        base = started.http_url
        anna = "anna.ivanova@demo.leadflow.test"  # Russian, Europe/Moscow (the demo seed)
        context = await browser.new_context(
            locale="en-US", timezone_id="Europe/Moscow", viewport={"width": 1100, "height": 900}
        )
        page = await context.new_page()
        await sign_in(page, base, anna, started.seed.passwords[anna])
        assert await page.get_attribute("html", "lang") == "ru", "her setting beats the browser"
        assert await page.text_content("h1") == "Моя очередь"
        assert await page.text_content("nav a[href='/reports']") == "Отчёты"
        await post_form(
            base,
            "contact",
            name="Пётр Иванов",
            email="petr@example.ru",
            message="Нужно 20 лицензий",
        )
        await page.wait_for_selector(".lead-row", timeout=20_000)
        assert re.fullmatch(r"через \d+ мин", await page.text_content(".lead-row .relative") or "")
        assert RU_WHEN.fullmatch(await page.text_content(".lead-row .when") or "")
        assert await page.text_content(".lead-row .chip[data-code=web_form]") == "Веб-форма"
        await doc_shot(page, "console-queue.png")
        await page.click(".lead-row a")
        await page.wait_for_selector("text=Запланировать следующее действие")
        assert await page.is_visible("button:has-text('Взять в работу')")
        assert await page.is_visible("form.complete button:has-text('Готово')")
        assert RU_WHEN.search(await page.text_content("p.meta") or "")
        await page.click("button:has-text('Взять в работу')")
        await page.wait_for_selector("#lead-status:has-text('В работе')", timeout=10_000)
        await shot(page, "lead-card-ru.png")
        await doc_shot(page, "console-lead-card.png", full_page=True)
        await context.close()


async def test_an_english_manager_in_new_york_reads_english_and_switches_to_russian(
    tmp_path: Path,
) -> None:
    async with chromium() as browser, leadflow_running(tmp_path) as started:
        base = started.http_url
        token = started.seed.admin_token or ""
        anna = "anna.ivanova@demo.leadflow.test"  # the first lead is hers
        await _admin_patch_user(
            base, token, anna, {"language": "en", "timezone": "America/New_York"}
        )
        context = await browser.new_context(
            locale="ru-RU", timezone_id="America/New_York", viewport={"width": 1100, "height": 900}
        )
        page = await context.new_page()
        await sign_in(page, base, anna, started.seed.passwords[anna])
        assert await page.text_content("h1") == "My queue", "her setting beats a Russian browser"
        await post_form(
            base, "contact", name="John Smith", email="john@example.com", message="Need a quote"
        )
        await page.wait_for_selector(".lead-row", timeout=20_000)
        await page.click(".lead-row a")
        await page.wait_for_selector("text=Plan the next activity")
        assert re.fullmatch(r"in \d+ min", await page.text_content(".todo .relative") or "")
        assert EN_WHEN.search(await page.text_content(".todo .due") or "")
        assert "When (America/New_York)" in (await page.text_content("form.complete") or "")
        assert await page.is_visible("button:has-text('Mark in progress')")
        await shot(page, "lead-card-en-new-york.png")
        # The header's switch stores her choice and brings her back to the same card.
        card_url = page.url
        await page.select_option("#language-switch select", "ru")
        await page.click("#language-switch button")
        await page.wait_for_selector("text=Запланировать следующее действие")
        assert page.url == card_url
        assert re.fullmatch(r"через \d+ мин", await page.text_content(".todo .relative") or "")
        assert "Когда (America/New_York)" in (await page.text_content("form.complete") or "")
        await page.goto(f"{base}/queue")
        assert await page.text_content("h1") == "Моя очередь", "the choice is stored"
        await context.close()


async def _admin_patch_user(base: str, token: str, email: str, body: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{base}/api/v1/admin/users") as resp:
            users = (await resp.json())["items"]
        user_id = next(u["id"] for u in users if u["email"] == email)
        async with http.patch(f"{base}/api/v1/admin/users/{user_id}", json=body) as resp:
            assert resp.status == 200, await resp.text()


async def test_admin_inputs_validate_in_the_browser_and_a_failed_test_is_red(
    tmp_path: Path,
) -> None:
    async with chromium() as browser, leadflow_running(tmp_path) as started:
        base = started.http_url
        token = started.seed.admin_token or ""
        admin = "admin@leadflow.local"
        page = await browser.new_page(viewport={"width": 1100, "height": 900})
        warnings: list[str] = []
        page.on("console", lambda message: warnings.append(message.text))
        await sign_in(page, base, admin, started.seed.passwords[admin])
        await page.goto(f"{base}/admin/forms")
        slug = page.locator("#new-form input[name=slug]")
        assert await _valid(slug, "Not a slug!") is False
        assert await _valid(slug, "demo-request_2") is True
        await _add_connector(base, token, "deadbot", "http://127.0.0.1:9", token_value="1:x")
        await _add_connector(base, token, "pbx", None, token_value=None)
        await page.goto(f"{base}/admin/connectors")
        await page.click("details.add[data-kind=telegram] summary")
        name = page.locator("details.add[data-kind=telegram] input[name=name]")
        assert await _valid(name, "bad name") is False
        assert await _valid(name, "office-pbx_2.main") is True
        assert not [w for w in warnings if "pattern" in w.lower()], warnings
        # A webhook has nothing to connect to: grey, neither red nor green.
        colours = {"failed": "rgb(220, 38, 38)", "not_testable": "rgb(100, 116, 139)"}
        for connector, outcome in (("deadbot", "failed"), ("pbx", "not_testable")):
            form = page.locator(f"form[data-api='/api/v1/admin/connectors/{connector}/test']")
            await form.locator("button").click()
            box = form.locator(".error")
            await box.wait_for(state="visible", timeout=20_000)
            assert await box.get_attribute("data-outcome") == outcome
            colour = await box.evaluate("el => getComputedStyle(el).color")
            assert colour == colours[outcome]
        await shot(page, "admin-connectors-tested.png")


async def _valid(field: Locator, value: str) -> bool:
    await field.fill(value)
    return bool(await field.evaluate("el => el.checkValidity()"))


async def _add_connector(
    base: str, token: str, name: str, api_base: str | None, *, token_value: str | None
) -> None:
    if api_base is not None:
        body = {
            "kind": "telegram",
            "name": name,
            "active": False,
            "settings": {"api_base_url": api_base},
            "secrets": {"token": token_value},
        }
    else:
        body = {"kind": "phone_webhook", "name": name, "active": False, "secrets": {"secret": "s"}}
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.post(f"{base}/api/v1/admin/connectors", json=body) as resp,
    ):
        assert resp.status == 201, await resp.text()


async def _planned_due(base: str, token: str, email: str) -> datetime:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{base}/api/v1/leads", params={"contact_email": email}) as resp:
            lead_id = (await resp.json())["items"][0]["id"]
        async with http.get(f"{base}/api/v1/leads/{lead_id}/card") as resp:
            card = await resp.json()
    planned = [a for a in card["activities"] if a["status"] == "planned"]
    assert len(planned) == 1
    return datetime.fromisoformat(planned[0]["due_at"])


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
