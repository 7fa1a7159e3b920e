# ruff: noqa: RUF001  (Russian text: Cyrillic letters are intended)
"""The deal, contact and company pages in Chromium, against the whole runtime.

A web-form lead is converted to a deal of 150 000 (through the API, as a manager's
"Convert" does); its manager then walks lead card → deal → contact → company and
changes the deal's stage and amount in the page. Once in Russian in Europe/Moscow,
once in English in America/New_York (where the customer's name is an XSS probe that
must stay text); another manager gets 404s, a write without the CSRF token is
refused, and the deal and contact pages work on a phone.
The deal page's screenshot is saved as docs/console-deal.png.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from .test_console_browser import (
    XSS,
    api,
    chromium,
    doc_shot,
    leadflow_running,
    post_form,
    shot,
    sign_in,
)

pytestmark = pytest.mark.integration

MANAGERS = ("anna.ivanova@demo.leadflow.test", "boris.petrov@demo.leadflow.test")
PHONE = "+79123456789"


def plain(text: str | None) -> str:
    """Babel's money and dates hold no-break spaces; compare them as spaces."""
    return re.sub(r"[\u00a0\u202f]", " ", text or "").strip()


async def a_converted_lead(base: str, token: str, email: str, name: str) -> dict[str, Any]:
    """A web-form lead from Olga, converted to a deal of 150 000 with her company."""
    await post_form(
        base,
        "contact",
        name=name,
        email=email,
        phone="8 (912) 345-67-89",
        message="Нужны кондиционеры в офис на 40 человек",
    )
    wanted = f"/api/v1/leads?contact_email={email}"
    async with asyncio.timeout(20):
        while not (page := await api(base, token, wanted))["total"]:  # noqa: ASYNC110 (polling the API)
            await asyncio.sleep(0.2)
    lead = page["items"][0]
    body = {"amount": 150000, "company": {"name": "Рога и Копыта", "domain": "roga.example"}}
    made = await api(base, token, f"/api/v1/leads/{lead['id']}/convert", method="POST", body=body)
    users = (await api(base, token, "/api/v1/admin/users"))["items"]
    owner = next(u for u in users if u["id"] == lead["assignee"]["id"])
    return {**made, "lead_id": lead["id"], "owner": owner}


async def _patch_without_csrf(page: Page, url: str) -> int:
    status: int = await page.evaluate(
        """async (url) => (await fetch(url, {method: "PATCH", credentials: "same-origin",
            headers: {"Content-Type": "application/json"}, body: '{"amount": 1}'})).status""",
        url,
    )
    return status


async def _patch_with_csrf(page: Page, url: str) -> int:
    status: int = await page.evaluate(
        """async (url) => (await fetch(url, {method: "PATCH", credentials: "same-origin",
            headers: {"Content-Type": "application/json", "X-CSRF-Token":
            document.querySelector('meta[name="csrf-token"]').content}, body: '{"amount": 1}'})).status""",
        url,
    )
    return status


async def _another_manager_sees_nothing(
    browser: Browser, base: str, passwords: dict[str, str], owner: str, made: dict[str, Any]
) -> None:
    other = next(m for m in MANAGERS if m != owner)
    page = await browser.new_page(viewport={"width": 1100, "height": 800})
    await sign_in(page, base, other, passwords[other])
    for url in (
        f"/deals/{made['deal_id']}",
        f"/contacts/{made['contact_id']}",
        f"/companies/{made['company_id']}",
    ):
        response = await page.goto(base + url)
        assert response is not None and response.status == 404, url
        assert "Рога" not in (await page.text_content("main") or "")
    assert await _patch_with_csrf(page, f"{base}/api/v1/deals/{made['deal_id']}") == 404
    await page.close()


async def test_a_moscow_manager_walks_lead_deal_contact_company_in_russian(tmp_path: Path) -> None:
    async with chromium() as browser, leadflow_running(tmp_path) as started:
        base, token = started.http_url, started.seed.admin_token or ""
        passwords = started.seed.passwords
        made = await a_converted_lead(base, token, "olga@roga.example", "Ольга Петрова")
        owner = made["owner"]["email"]
        context = await browser.new_context(
            locale="ru-RU", timezone_id="Europe/Moscow", viewport={"width": 1100, "height": 900}
        )
        page = await context.new_page()
        await sign_in(page, base, owner, passwords[owner])
        await page.goto(f"{base}/leads/{made['lead_id']}")
        await page.click("a.deal-link")
        await page.wait_for_url(f"{base}/deals/{made['deal_id']}")
        assert plain(await page.text_content("#deal-amount")) == "150 000,00 ₽"
        assert await page.text_content("#deal-stage") == "Новый"
        # Change the stage and the amount in the page: the form PATCHes with the token.
        await page.select_option("form.deal-edit select[name=stage]", "negotiation")
        await page.fill("form.deal-edit input[name=amount]", "175000.5")
        await page.click("form.deal-edit button[type=submit]")
        await page.wait_for_selector("#deal-stage:has-text('Переговоры')", timeout=10_000)
        assert plain(await page.text_content("#deal-amount")) == "175 000,50 ₽"
        assert "MSK" in (await page.text_content("#deal-links") or "")
        # A bad amount is refused by the API, and the page says why, in place.
        await page.evaluate(
            "document.querySelector('form.deal-edit input[name=amount]').removeAttribute('min')"
        )
        await page.fill("form.deal-edit input[name=amount]", "-5")
        await page.click("form.deal-edit button[type=submit]")
        # The API's refusal beside the amount field, tied to it for screen readers.
        beside = page.locator("form.deal-edit p.field-error[data-field=amount]")
        await beside.wait_for(timeout=10_000)
        described = await page.get_attribute(
            "form.deal-edit input[name=amount]", "aria-describedby"
        )
        assert await beside.get_attribute("id") in (described or "").split()
        assert "Форма не сохранена" in (await page.text_content("form.deal-edit p.error") or "")
        assert await _patch_without_csrf(page, f"{base}/api/v1/deals/{made['deal_id']}") == 403
        await page.reload()
        assert plain(await page.text_content("#deal-amount")) == "175 000,50 ₽"
        # The change is in the deal's history, with who made it (and nothing refused is).
        history = page.locator("#deal-history li[data-type='deal.changed']")
        assert await history.count() == 1
        entry = plain(await history.first.text_content())
        assert "Стадия: Новый → Переговоры" in entry and "150 000,00 ₽ → 175 000,50 ₽" in entry
        assert made["owner"]["name"] in entry and "MSK" in entry
        await doc_shot(page, "console-deal.png", full_page=True)

        await page.click("a.contact-link")
        await page.wait_for_url(f"{base}/contacts/{made['contact_id']}")
        tel = page.locator(f"a[href='tel:{PHONE}']")
        assert plain(await tel.text_content()) == "Телефон 8 (912) 345-67-89"
        assert await page.locator("a[href='mailto:olga@roga.example']").count() == 1
        assert await page.text_content("h1") == "Ольга Петрова"
        assert "MSK" in (await page.text_content("#contact-timeline") or "")
        await shot(page, "contact-ru.png")
        await page.click("#contact-reach a.company-link")
        await page.wait_for_url(f"{base}/companies/{made['company_id']}")
        assert "Открытые сделки: 1" in plain(await page.text_content("#open-amount"))
        assert plain(await page.text_content("#open-amount .amount")) == "175 000,50 ₽"
        await shot(page, "company-ru.png")

        # On a phone: no sideways scrolling, and every control of the page is tappable.
        phone = await context.new_page()
        await phone.set_viewport_size({"width": 390, "height": 844})
        for url in (f"/deals/{made['deal_id']}", f"/contacts/{made['contact_id']}"):
            await phone.goto(base + url)
            width = await phone.evaluate("document.scrollingElement.scrollWidth")
            assert width <= 390, f"{url} scrolls sideways: {width}"
            heights = await phone.eval_on_selector_all(
                "main .records a, main dd a, .deal-edit select, .deal-edit input, "
                ".deal-edit button",
                "els => els.map(e => e.getBoundingClientRect().height)",
            )
            assert heights and min(heights) >= 40, f"tap targets on {url}: {heights}"
        await shot(phone, "deal-phone.png")
        await context.close()
        await _another_manager_sees_nothing(browser, base, passwords, owner, made)


async def test_a_new_york_manager_reads_the_deal_in_english_and_wins_it(tmp_path: Path) -> None:
    async with chromium() as browser, leadflow_running(tmp_path) as started:
        base, token = started.http_url, started.seed.admin_token or ""
        made = await a_converted_lead(base, token, "olga@roga.example", "Olga " + XSS)
        owner = made["owner"]
        await api(
            base,
            token,
            f"/api/v1/admin/users/{owner['id']}",
            method="PATCH",
            body={"language": "en", "timezone": "America/New_York"},
        )
        context = await browser.new_context(
            locale="en-US", timezone_id="America/New_York", viewport={"width": 1100, "height": 900}
        )
        page = await context.new_page()
        await sign_in(page, base, owner["email"], started.seed.passwords[owner["email"]])
        # From the header's search: the phone written another way finds her contact.
        await page.fill("header .search input[name=q]", "+7 912 345 67 89")
        await page.press("header .search input[name=q]", "Enter")
        await page.click(f"#search-contacts a[href='/contacts/{made['contact_id']}']")
        await page.wait_for_selector("#contact-deals")
        assert "Phone 8 (912) 345-67-89" in plain(await page.text_content("#contact-reach"))
        assert re.search(r"E[SD]T", await page.text_content("#contact-timeline") or "")
        # Her name holds an XSS probe: it is shown as text, and nothing of it runs.
        assert "<script>" in (await page.text_content("h1") or "")
        assert await page.evaluate("typeof window.__xss") == "undefined"
        assert await page.query_selector("a[href^='javascript']") is None
        await page.click(f"#contact-deals a[href='/deals/{made['deal_id']}']")
        await page.wait_for_selector("form.deal-edit")
        assert plain(await page.text_content("#deal-amount")) == "RUB 150,000.00"
        assert await page.text_content("#deal-stage") == "New"
        await page.select_option("form.deal-edit select[name=stage]", "won")
        await page.click("form.deal-edit button[type=submit]")
        await page.wait_for_selector("#deal-stage:has-text('Won')", timeout=10_000)
        assert re.search(r"E[SD]T", await page.text_content("#deal-closed") or "")
        assert "Stage: New → Won" in plain(await page.text_content("#deal-history"))
        # The lead's history shows the same change.
        await page.goto(f"{base}/leads/{made['lead_id']}")
        changed = page.locator("#history li[data-type='deal.changed']")
        assert "Deal changed: Stage: New → Won" in plain(await changed.text_content())
        await page.goto(f"{base}/deals/{made['deal_id']}")
        assert await page.evaluate("typeof window.__xss") == "undefined"
        await shot(page, "deal-en-new-york.png")
        await page.click("#deal-links a.company-link")
        await page.wait_for_selector("#open-amount")
        assert "Open deals: 0" in plain(await page.text_content("#open-amount"))
        assert plain(await page.text_content("#open-amount .amount")) == "RUB 0.00"
        await context.close()
