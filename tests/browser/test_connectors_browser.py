"""The connectors page in Chromium, against the whole runtime (issue 12).

In Russian from Moscow: an admin creates an IMAP mailbox with the generated form
(pointing at the real Dovecot), tests it (green), a mail delivered to it becomes a
lead without a restart, and the hour strip counts it in Moscow time; editing with a
blank password keeps it; switching off works; an XSS probe stays inert; a manager
gets a 403 and a request without the CSRF token is refused; on a 390 px phone nothing
scrolls sideways and the new controls are at least 40 px tall. In English from New
York: a Telegram bot and a phone webhook made in the page test red and grey, a
webhook secret is set and cleared, the strip's hours are New York's, delete works.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_time
from playwright.async_api import Locator, Page

from tests import servers
from tests.integration.mail_helpers import simple_mail
from tests.servers import PASSWORD, Dovecot, ImapClient

from .test_console_browser import (
    XSS,
    _admin_patch_user,
    api,
    chromium,
    doc_shot,
    leadflow_running,
    shot,
    sign_in,
)

pytestmark = pytest.mark.integration
mail_server = servers.dovecot  # the session's Dovecot fixture, usable in this module

ADMIN = "admin@leadflow.local"
ANNA = "anna.ivanova@demo.leadflow.test"
GREEN, RED, GREY = "rgb(22, 163, 74)", "rgb(220, 38, 38)", "rgb(100, 116, 139)"


async def outcome_of(page: Page, name: str) -> tuple[str | None, str]:
    """Click a connector's Test; (its outcome, the colour it is shown in)."""
    form = page.locator(f"section[data-connector='{name}'] form.test")
    await form.locator("button").click()
    box = form.locator(".error")
    await box.wait_for(state="visible", timeout=20_000)
    colour = await box.evaluate("el => getComputedStyle(el).color")
    return await box.get_attribute("data-outcome"), str(colour)


def hour_labels(zone: str, language: str) -> set[str]:
    """The label of the current local hour (and the one before, at an hour's turn)."""
    now = datetime.now(ZoneInfo(zone)).replace(minute=0, second=0, microsecond=0)
    return {
        format_time(t, "short", tzinfo=t.tzinfo, locale=language)
        for t in (now, now - timedelta(hours=1))
    }


async def field_error(scope: Locator, name: str) -> str:
    """The 422 sentence shown beside field `name`, tied to it by aria-describedby."""
    field = scope.locator(f'[name="{name}"]')
    box = scope.locator(f'p.field-error[data-field="{name}"]')
    await box.wait_for(timeout=10_000)
    box_id = await box.get_attribute("id")
    assert box_id and box_id in (await field.get_attribute("aria-describedby") or "")
    assert await field.get_attribute("aria-invalid") == "true"
    return await box.text_content() or ""


async def test_a_russian_admin_adds_a_mailbox_and_its_mail_becomes_a_lead(
    tmp_path: Path, mail_server: Dovecot
) -> None:
    async with chromium() as browser, leadflow_running(tmp_path) as started:
        base, token = started.http_url, started.seed.admin_token or ""
        dovecot = mail_server
        user = dovecot.add_user()
        moscow = {"language": "ru", "timezone": "Europe/Moscow"}
        await _admin_patch_user(base, token, ADMIN, moscow)
        context = await browser.new_context(
            locale="ru-RU", timezone_id="Europe/Moscow", viewport={"width": 1100, "height": 900}
        )
        page = await context.new_page()
        await sign_in(page, base, ADMIN, started.seed.passwords[ADMIN])
        await page.goto(f"{base}/admin/connectors")
        assert "Добавить коннектор" in (await page.text_content("main") or "")
        add = page.locator("details.add[data-kind=imap]")
        assert "Почтовый ящик IMAP" in (await add.locator("summary").text_content() or "")
        await add.locator("summary").click()
        await add.locator("input[name=name]").fill("sales-inbox")
        await add.locator("input[name='settings.host']").fill("127.0.0.1")
        # A port the API refuses, past the browser's own check: the sentence is beside it.
        port = add.locator("input[name='settings.port']")
        await port.fill("70000")
        await add.locator("form").evaluate("f => { f.noValidate = true }")
        await add.locator("button[type=submit]").click()
        assert "65535" in await field_error(add, "settings.port")
        assert await add.locator("p.error").text_content() == (
            "Форма не сохранена; посмотрите отмеченные поля."
        )
        await add.locator("form").evaluate("f => { f.noValidate = false }")
        await port.fill(str(dovecot.port))
        await add.locator("select[name='settings.security']").select_option("plain")
        await add.locator("input[name='settings.username']").fill(user)
        await add.locator("input[name='settings.poll_interval_s']").fill("1")
        await add.locator("input[name='settings.move_to']").fill(XSS)
        await add.locator("input[name='secrets.password']").fill(PASSWORD)
        assert "Сервер IMAP, например" in (await add.text_content() or "")  # help, translated
        async with page.expect_navigation():  # the page reloads after a change
            await add.locator("button[type=submit]").click()
        section = page.locator("section[data-connector='sales-inbox']")
        await section.wait_for(timeout=10_000)
        assert await section.locator("[data-secret-state=password]").text_content() == "задан"

        outcome, colour = await outcome_of(page, "sales-inbox")
        assert (outcome, colour) == ("ok", GREEN)

        # The running connectors pick the mailbox up (no restart): a mail becomes a lead.
        async with ImapClient(dovecot.port, user) as imap:
            await imap.append(simple_mail(sender="Olga Kim <olga@hotel-vega.test>"))
        await until(
            lambda: api(base, token, "/api/v1/leads", contact_email="olga@hotel-vega.test"),
            lambda leads: bool(leads["items"]),
            within=40,
        )

        await page.reload()
        last = section.locator("g.hour").last
        assert await last.get_attribute("data-inquiries") == "1"
        assert await last.get_attribute("data-state") == "ok"
        assert await last.get_attribute("data-hour") in hour_labels("Europe/Moscow", "ru")
        assert await section.locator("p.test-result").get_attribute("data-outcome") == "ok"
        assert "вход на 127.0.0.1 выполнен" in (
            await section.locator("p.test-result").text_content() or ""
        )
        assert await page.evaluate("window.__xss") is None
        edit = section.locator("details.edit")
        await edit.locator("summary").click()
        assert await edit.locator("input[name='settings.move_to']").input_value() == XSS
        await doc_shot(page, "console-connectors.png")

        # A blank password keeps it; the change applies.
        await edit.locator("input[name='settings.poll_interval_s']").fill("2")
        async with page.expect_navigation():  # the page reloads after a change
            await edit.locator("button[type=submit]").click()
        view = await until(
            lambda: api(base, token, "/api/v1/admin/connectors/sales-inbox"),
            lambda got: got["settings"]["poll_interval_s"] == 2,
        )
        assert view["secrets"] == {"password": "set"}
        await page.reload()
        async with page.expect_navigation():  # the page reloads after a change
            await section.locator("form.switch button").click()
        await until(
            lambda: api(base, token, "/api/v1/admin/connectors/sales-inbox"),
            lambda got: got["active"] is False,
        )

        # Without the CSRF token the session may not change anything.
        status = await page.evaluate(
            """() => fetch('/api/v1/admin/connectors/sales-inbox/active', {method: 'PUT',
                 headers: {'Content-Type': 'application/json'}, body: '{"active": true}'})
                 .then(r => r.status)"""
        )
        assert status == 403

        # A phone: nothing scrolls sideways; the new controls are big enough to tap.
        await page.set_viewport_size({"width": 390, "height": 844})
        await page.reload()
        await page.locator("details.add[data-kind=imap] summary").click()
        await section.locator("details.edit summary").click()
        width = await page.evaluate("document.scrollingElement.scrollWidth")
        assert width <= 390, "no horizontal scrolling on a phone"
        heights = await page.eval_on_selector_all(
            "section.connector .actions button, details > summary, label.check, "
            "details button[type=submit]",
            "els => els.filter(e => e.offsetParent).map(e => e.getBoundingClientRect().height)",
        )
        assert heights and min(heights) >= 40, heights

        # A manager sees neither the page nor the API.
        manager = await (await browser.new_context(locale="ru-RU")).new_page()
        await sign_in(manager, base, ANNA, started.seed.passwords[ANNA])
        answer = await manager.goto(f"{base}/admin/connectors")
        assert answer is not None and answer.status == 403
        status = await manager.evaluate(
            """() => fetch('/api/v1/admin/connectors/sales-inbox/health', {headers: {
                 'X-CSRF-Token': document.querySelector('meta[name=csrf-token]').content}})
                 .then(r => r.status)"""
        )
        assert status == 403


async def test_an_english_admin_in_new_york_tests_a_bot_and_a_webhook(tmp_path: Path) -> None:
    async with chromium() as browser, leadflow_running(tmp_path) as started:
        base, token = started.http_url, started.seed.admin_token or ""
        zone = "America/New_York"
        await _admin_patch_user(base, token, ADMIN, {"language": "en", "timezone": zone})
        context = await browser.new_context(
            locale="en-US", timezone_id=zone, viewport={"width": 1100, "height": 900}
        )
        page = await context.new_page()
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await sign_in(page, base, ADMIN, started.seed.passwords[ADMIN])
        await page.goto(f"{base}/admin/connectors")

        bot = page.locator("details.add[data-kind=telegram]")
        await bot.locator("summary").click()
        assert "The token @BotFather gave" in (await bot.text_content() or "")
        await bot.locator("input[name=name]").fill("deadbot")
        await bot.locator("input[name='settings.api_base_url']").fill("not a url")
        await bot.locator("input[name='secrets.token']").fill("1:x")
        await bot.locator("button[type=submit]").click()
        assert "starts with http://" in await field_error(bot, "settings.api_base_url")
        await bot.locator("input[name='settings.api_base_url']").fill("http://127.0.0.1:9")
        await bot.locator("input[name='secrets.token']").fill("1:x")
        async with page.expect_navigation():  # the page reloads after a change
            await bot.locator("button[type=submit]").click()
        await page.locator("section[data-connector='deadbot']").wait_for(timeout=10_000)

        pbx = page.locator("details.add[data-kind=phone_webhook]")
        await pbx.locator("summary").click()
        await pbx.locator("input[name=name]").fill("office-pbx")
        await pbx.locator("input[name='secrets.secret']").fill("s3cret")
        async with page.expect_navigation():  # the page reloads after a change
            await pbx.locator("button[type=submit]").click()
        await page.locator("section[data-connector='office-pbx']").wait_for(timeout=10_000)

        assert await outcome_of(page, "deadbot") == ("failed", RED)
        assert await outcome_of(page, "office-pbx") == ("not_testable", GREY)

        await page.reload()
        section = page.locator("section[data-connector='deadbot']")
        last = section.locator("g.hour").last
        assert await last.get_attribute("data-state") == "error"  # the failed test
        assert await last.get_attribute("data-hour") in hour_labels(zone, "en")
        assert await section.locator("p.test-result").get_attribute("data-outcome") == "failed"
        colour = await section.locator("p.test-result").evaluate("el => getComputedStyle(el).color")
        assert colour == RED

        # A webhook secret: set it, then clear it; the token is kept throughout.
        edit = section.locator("details.edit")
        await edit.locator("summary").click()
        assert await edit.locator("[data-secret-state=webhook_secret]").text_content() == "not set"
        await edit.locator("input[name='secrets.webhook_secret']").fill("hook_secret-1")
        async with page.expect_navigation():  # the page reloads after a change
            await edit.locator("button[type=submit]").click()
        await _secrets_become(base, token, "deadbot", {"token": "set", "webhook_secret": "set"})
        await page.reload()
        await edit.locator("summary").click()
        assert await edit.locator("[data-secret-state=webhook_secret]").text_content() == "set"
        await edit.locator("input[data-clear='secrets.webhook_secret']").check()
        async with page.expect_navigation():  # the page reloads after a change
            await edit.locator("button[type=submit]").click()
        await _secrets_become(base, token, "deadbot", {"token": "set"})

        await page.reload()
        async with page.expect_navigation():  # the page reloads after a change
            await page.locator("section[data-connector='office-pbx'] button.danger").click()
        await page.locator("section[data-connector='office-pbx']").wait_for(
            state="detached", timeout=10_000
        )
        await shot(page, "connectors-en.png")


async def _secrets_become(base: str, token: str, name: str, wanted: dict[str, str]) -> None:
    await until(
        lambda: api(base, token, f"/api/v1/admin/connectors/{name}"),
        lambda got: got["secrets"] == wanted,
    )


async def until(
    read: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], within: float = 10
) -> Any:
    """Read until `done` says so (the runtime applies changes asynchronously)."""
    async with asyncio.timeout(within):
        while not done(got := await read()):  # noqa: ASYNC110 (polling the API)
            await asyncio.sleep(0.2)
    return got
