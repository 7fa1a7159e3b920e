# ruff: noqa: RUF001  (Russian text: Cyrillic letters are intended)
"""The leads table, the kanban board and the lead card's contact and history in
Chromium, against the whole runtime: a Russian head of sales in Moscow sorts the
table and moves cards on the board (by drag and drop, and by the card's list on a
phone); an English manager in New York corrects a contact and reads its history.
Saves docs/console-table.png and docs/console-kanban.png."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from .test_console_browser import (
    EN_WHEN,
    RU_WHEN,
    XSS,
    _admin_patch_user,
    api,
    chromium,
    doc_shot,
    leadflow_running,
    post_form,
    shot,
    sign_in,
)

pytestmark = pytest.mark.integration

HELEN = "helen.head@demo.leadflow.test"
ANNA = "anna.ivanova@demo.leadflow.test"


async def until_assigned(base: str, token: str, n: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(30):
        while True:
            page = await api(base, token, "/api/v1/leads?limit=50")
            items: list[dict[str, Any]] = page["items"]
            if len(items) == n and all(i["assignee"] for i in items):
                return items
            await asyncio.sleep(0.2)


async def fetch_status(page: Page, url: str, method: str, body: str, csrf: bool) -> int:
    """What the API answers the page's own session (with or without the CSRF token)."""
    status: int = await page.evaluate(
        """async ([url, method, body, csrf]) => {
            const token = document.querySelector('meta[name="csrf-token"]').content;
            const headers = {"Content-Type": "application/json"};
            if (csrf) headers["X-CSRF-Token"] = token;
            const r = await fetch(url, {method, headers, body, credentials: "same-origin"});
            return r.status;
        }""",
        [url, method, body, csrf],
    )
    return status


async def assert_fits_a_phone(page: Page, controls: str) -> None:
    width = await page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= 390, f"no horizontal scrolling on a phone: {width}"
    heights = await page.eval_on_selector_all(
        controls, "els => els.map(e => e.getBoundingClientRect().height)"
    )
    assert heights and min(heights) >= 40, f"tap targets {controls}: {heights}"


async def test_a_moscow_head_sorts_the_table_and_moves_cards_on_the_board(tmp_path: Path) -> None:
    async with chromium() as browser, leadflow_running(tmp_path) as started:
        base, token = started.http_url, started.seed.admin_token or ""
        for name, phone, message in (
            ("Борис Ёлкин", "8 (912) 345-67-81", "Нужен расчёт на 12 окон"),
            ("Анна Белова", "8 (912) 345-67-82", "Добрый день! Нужен счёт на 3 шт. " + XSS),
            ("Вера Акимова", "8 (912) 345-67-83", "Перезвоните по поводу монтажа кондиционера"),
        ):
            await post_form(base, "contact", name=name, phone=phone, message=message)
        leads = await until_assigned(base, token, 3)

        context = await browser.new_context(
            locale="en-US", timezone_id="Europe/Moscow", viewport={"width": 1280, "height": 860}
        )
        page = await context.new_page()
        await sign_in(page, base, HELEN, started.seed.passwords[HELEN])
        await page.click("nav a[href='/leads']")
        assert await page.text_content("h1") == "Лиды"
        assert await page.locator(".leads-table tbody tr[data-lead]").count() == 3
        assert RU_WHEN.fullmatch(await page.text_content(".leads-table td.when") or "")
        assert re.fullmatch(r"через \d+ мин", await page.text_content("td.due .relative") or "")
        await page.click("th[data-sort=contact] a")
        await page.wait_for_url(re.compile(r"sort=contact"))
        assert await page.get_attribute("th[data-sort=contact]", "aria-sort") == "ascending"
        contacts = await page.locator(".leads-table tbody tr td:nth-child(2)").all_text_contents()
        assert [c[:4] for c in contacts] == ["Анна", "Бори", "Вера"]
        await page.click("th[data-sort=contact] a")
        await page.wait_for_url(re.compile(r"sort=-contact"))
        contacts = await page.locator(".leads-table tbody tr td:nth-child(2)").all_text_contents()
        assert [c[:4] for c in contacts] == ["Вера", "Бори", "Анна"]
        assert await page.evaluate("typeof window.__xss") == "undefined"
        await doc_shot(page, "console-table.png")

        await page.click("nav a[href='/leads/board']")
        headers = await page.locator(".board-column h2 .chip").all_text_contents()
        assert headers == ["Новый", "В работе", "Конвертирован", "Спам"]
        new = page.locator(".board-column[data-status=new]")
        in_progress = page.locator(".board-column[data-status=in_progress]")
        card = new.locator(".board-card", has_text="Вера Акимова")
        await card.drag_to(in_progress.locator(".board-cards"))
        moved = in_progress.locator(".board-card", has_text="Вера Акимова")
        await moved.wait_for(timeout=10_000)
        await in_progress.locator("[data-count]", has_text=re.compile("^1$")).wait_for()
        assert await new.locator("[data-count]").text_content() == "2"
        vera = next(i for i in leads if i["contact"]["name"] == "Вера Акимова")
        async with asyncio.timeout(10):
            stored = f"/api/v1/leads/{vera['id']}"
            while (await api(base, token, stored))["status"] != "in_progress":  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        # Junk needs a reason: the API refuses the move, and the card goes back.
        boris = new.locator(".board-card", has_text="Борис Ёлкин")
        await boris.drag_to(page.locator(".board-column[data-status=junk] .board-cards"))
        await page.wait_for_selector("#board-error:not([hidden])", timeout=10_000)
        assert "откройте его карточку" in (await page.text_content("#board-error") or "")
        await new.locator(".board-card", has_text="Борис Ёлкин").wait_for(timeout=5_000)
        assert await page.locator(".board-column[data-status=junk] .board-card").count() == 0
        assert await page.evaluate("typeof window.__xss") == "undefined"
        await doc_shot(page, "console-kanban.png")
        # Without the CSRF token the same move is refused.
        url = f"/api/v1/leads/{vera['id']}/status"
        assert await fetch_status(page, url, "POST", '{"status": "new"}', csrf=False) == 403

        # The move is in the lead's history, with who made it, in Moscow time.
        await moved.locator("a.title").click()
        change = page.locator("#history li[data-type='lead.status_changed']")
        assert "Статус: Новый → В работе" in (await change.text_content() or "")
        assert "Helen Head" in (await change.text_content() or "")
        assert RU_WHEN.fullmatch(await change.locator(".when").text_content() or "")
        await context.close()

        mobile = await browser.new_context(
            viewport={"width": 390, "height": 844},
            is_mobile=True,
            has_touch=True,
            locale="ru-RU",
            timezone_id="Europe/Moscow",
        )
        small = await mobile.new_page()
        await sign_in(small, base, HELEN, started.seed.passwords[HELEN])
        await small.goto(f"{base}/leads/board")
        await assert_fits_a_phone(
            small, ".board-card select, .filters select, .filters input, .filters button"
        )
        card = small.locator(".board-column[data-status=new] .board-card", has_text="Борис")
        await card.locator("select[data-move]").select_option("in_progress")
        await small.locator(
            ".board-column[data-status=in_progress] .board-card", has_text="Борис"
        ).wait_for(timeout=10_000)
        await shot(small, "kanban-phone.png")
        await small.goto(f"{base}/leads")
        await assert_fits_a_phone(small, ".leads-table th a, .view-switch a, .filters button")
        await mobile.close()


async def test_a_new_york_manager_corrects_a_contact_and_reads_its_history(
    tmp_path: Path,
) -> None:
    async with chromium() as browser, leadflow_running(tmp_path) as started:
        base, token = started.http_url, started.seed.admin_token or ""
        await _admin_patch_user(
            base, token, ANNA, {"language": "en", "timezone": "America/New_York"}
        )
        await post_form(
            base,
            "contact",
            name="John Smith",
            email="john@example.com",
            phone="8 (912) 345-67-89",
            message="Need a quote",
        )
        await until_assigned(base, token, 1)  # the first lead is Anna's
        await post_form(base, "contact", name="Mary Jones", email="mary@example.com", message="Hi")
        leads = await until_assigned(base, token, 2)
        other = next(i for i in leads if i["contact"]["name"] == "Mary Jones")
        assert other["assignee"]["name"] != "Anna Ivanova"

        context = await browser.new_context(
            locale="ru-RU", timezone_id="America/New_York", viewport={"width": 1100, "height": 900}
        )
        page = await context.new_page()
        await sign_in(page, base, ANNA, started.seed.passwords[ANNA])
        await page.click("nav a[href='/leads']")
        assert await page.text_content("h1") == "My leads"
        assert await page.locator(".leads-table tbody tr[data-lead]").count() == 1
        assert "Mary Jones" not in (await page.text_content("main") or "")
        assert EN_WHEN.fullmatch(await page.text_content(".leads-table td.when") or "")
        await page.click(".leads-table td.title-cell a")
        assert await page.get_attribute("#contact-phone a", "href") == "tel:+79123456789"
        assert await page.get_attribute("#contact-email a", "href") == "mailto:john@example.com"

        await page.click("details.contact-edit summary")
        await page.fill("#contact-form input[name=phone]", "12")
        await page.fill("#contact-form input[name=email]", "john at example")
        await page.click("#contact-form button[type=submit]")
        phone_error = page.locator(".field-error[data-for=phone]")
        await phone_error.wait_for(state="visible", timeout=10_000)
        assert "Not a phone number" in (await phone_error.text_content() or "")
        assert "Not an email address" in (
            await page.text_content(".field-error[data-for=email]") or ""
        )
        assert await page.get_attribute("#contact-form input[name=phone]", "aria-invalid") == "true"
        await page.fill("#contact-form input[name=name]", "John A. Smith")
        await page.fill("#contact-form input[name=phone]", "8 912 345-67-00")
        await page.fill("#contact-form input[name=email]", "john.smith@example.com")
        await page.fill("#contact-form input[name=company]", "Smith & Sons")
        await page.click("#contact-form button[type=submit]")
        await page.wait_for_selector("#contact-name:has-text('John A. Smith')", timeout=10_000)
        assert await page.get_attribute("#contact-phone a", "href") == "tel:+79123456700"
        newest = page.locator("#history li").first
        assert await newest.get_attribute("data-type") == "lead.contact_edited"
        text = await newest.text_content() or ""
        assert "+79123456789 → +79123456700" in text and "Anna Ivanova" in text
        assert EN_WHEN.fullmatch(await newest.locator(".when").text_content() or "")
        assert await page.locator("#history li[data-kind=inquiry]").count() == 1
        assert await page.locator("#history li[data-kind=assignment]").count() >= 1
        await shot(page, "lead-contact-edited.png")

        # Another manager's lead does not exist for her, on the page or in the API.
        await page.goto(f"{base}/leads/{other['id']}")
        assert "There is no lead with this id." in (await page.text_content("main") or "")
        url = f"/api/v1/leads/{other['id']}/contact"
        assert await fetch_status(page, url, "PATCH", '{"name": "X"}', csrf=True) == 404
        await page.goto(f"{base}/leads")
        own = await page.get_attribute(".leads-table tbody tr[data-lead]", "data-lead")
        url = f"/api/v1/leads/{own}/contact"
        assert await fetch_status(page, url, "PATCH", '{"name": "X"}', csrf=False) == 403
        await context.close()
