# ruff: noqa: RUF001  (Russian text: Cyrillic letters are intended)
"""The admin's people and rules pages in Chromium, against the whole runtime.

One pass in Russian in Europe/Moscow: the admin makes a manager, puts her in the
demo team, fills the others' capacity, and a posted form reaches her; an absence
entered in Moscow time stops her leads (the dry run says so); a generated password
signs her in, and deactivation ends her session. One pass in English in
America/New_York: working hours set with the week grid (two intervals on a day, kept
when the user is renamed), a routing rule made, edited and deleted
with form controls, and the dry run naming the rule, the team and the manager.
Both check the phone layout, inert customer text, the CSRF token and that a
manager cannot use the admin pages.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page

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

ADMIN = "admin@leadflow.local"
BORIS = "boris.petrov@demo.leadflow.test"


async def user_id(base: str, token: str, email: str) -> int:
    users = await api(base, token, "/api/v1/admin/users")
    return next(int(u["id"]) for u in users["items"] if u["email"] == email)


async def submit(page: Page, form: Locator) -> None:
    """Submit a form whose success reloads the page, and wait for the reload."""
    async with page.expect_navigation():
        await form.locator("button[type=submit]").click()


def user_details(page: Page, uid: int) -> Locator:
    return page.locator("details", has=page.locator(f'form[data-api="/api/v1/admin/users/{uid}"]'))


async def open_user(page: Page, uid: int) -> Locator:
    details = user_details(page, uid)
    if not await details.evaluate("d => d.open"):
        await details.locator("summary").click()
    return details


async def set_own_settings(page: Page, base: str, uid: int, language: str, zone: str) -> None:
    await page.goto(f"{base}/admin/people")
    details = await open_user(page, uid)
    form = details.locator("form.edit-user")
    await form.locator('select[name="language"]').select_option(json.dumps(language))
    await form.locator("input[data-zone-picker]").fill(zone)
    await submit(page, form)


async def dry_run(page: Page, **fields: str) -> tuple[str, str, str]:
    form = page.locator("form[data-dry-run]")
    await form.locator("input, textarea").evaluate_all(
        "els => els.forEach(e => { if (e.name) e.value = '' })"
    )
    for name, value in fields.items():
        if name == "channel":
            await form.locator('select[name="channel"]').select_option(value)
        else:
            await form.locator(f'[name="{name}"]').fill(value)
    result = page.locator("#dry-run-result")
    await result.evaluate("r => { r.hidden = true }")
    await form.locator("button[type=submit]").click()
    await result.wait_for(state="visible", timeout=10_000)
    headline = result.locator(".headline")
    return (
        await headline.get_attribute("data-outcome") or "",
        await headline.text_content() or "",
        await result.locator("dl").text_content() or "",
    )


async def until_lead(base: str, token: str, n: int) -> dict[str, Any]:
    async with asyncio.timeout(20):
        while (page := await api(base, token, "/api/v1/leads"))["total"] < n:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    found: dict[str, Any] = page
    return found


async def phone_checks(browser: Browser, locale: str, zone: str, base: str, pw: str) -> None:
    """No horizontal scroll at 390 px, and the new controls are at least 40 px tall."""
    ctx = await browser.new_context(
        locale=locale, timezone_id=zone, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    try:
        phone = await ctx.new_page()
        await sign_in(phone, base, ADMIN, pw)
        for path, scope in (
            ("/admin/people", "main"),
            ("/admin/rules", "#routing-rules, #dry-run, #sla, #spam-thresholds"),
        ):
            await phone.goto(f"{base}{path}")
            if await phone.locator("details").count():
                await phone.locator("details").first.locator("summary").click()
            width = await phone.evaluate("document.scrollingElement.scrollWidth")
            assert width <= 390, f"{path} scrolls sideways on a phone ({width} px)"
            small = await phone.evaluate(
                """scope => [...document.querySelectorAll(scope)].flatMap(root =>
                    [...root.querySelectorAll('button, select, summary, input:not([type=hidden]):not([type=checkbox])')])
                  .filter(el => el.offsetParent !== null)
                  .filter(el => el.getBoundingClientRect().height < 40)
                  .map(el => el.outerHTML.slice(0, 80))""",
                scope,
            )
            assert small == [], f"tap targets under 40 px on {path}: {small}"
            await shot(phone, f"admin{path.replace('/', '-')}-phone-{locale}.png")
    finally:
        await ctx.close()


async def forbidden_to_a_manager(ctx: BrowserContext, base: str) -> None:
    page = await ctx.new_page()
    for path in ("/admin/people", "/admin/rules"):
        response = await page.goto(f"{base}{path}")
        assert response is not None and response.status == 403
    status = await page.evaluate(
        """async () => (await fetch('/api/v1/admin/rules/dry-run', {method: 'POST',
            headers: {'Content-Type': 'application/json',
                      'X-CSRF-Token': document.querySelector('meta[name=csrf-token]').content},
            body: JSON.stringify({email: 'x@y.test'})})).status"""
    )
    assert status == 403


async def csrf_is_required(page: Page) -> None:
    status = await page.evaluate(
        """async () => (await fetch('/api/v1/admin/rules/dry-run', {method: 'POST',
            headers: {'Content-Type': 'application/json'},
            body: JSON.stringify({email: 'x@y.test'})})).status"""
    )
    assert status == 403


async def field_error(form: Locator, name: str) -> str:
    """The sentence shown beside field `name` (tied to it by aria-describedby)."""
    field = form.locator(f'[name="{name}"]')
    box = form.locator(f'p.field-error[data-field="{name}"]')
    await box.wait_for(timeout=10_000)
    described = await field.get_attribute("aria-describedby") or ""
    assert await box.get_attribute("id") in described.split()
    assert await field.get_attribute("aria-invalid") == "true"
    return await box.text_content() or ""


async def sla_and_escalation_with_form_controls(page: Page, base: str, token: str) -> None:
    """Deadlines, escalation and spam thresholds edited with fields, checked in the
    browser and by the API (the refusal beside its field)."""
    sla = page.locator("#sla form.sla-form")
    phone = sla.locator('[name="minutes.phone"]')
    await phone.fill("0")
    assert await phone.evaluate("el => el.validity.rangeUnderflow")
    await sla.evaluate("f => { f.noValidate = true }")  # what the API says, past the browser
    await sla.locator("button[type=submit]").click()
    # The API's sentence beside the field, in the admin's language (Russian).
    assert await field_error(sla, "minutes.phone") == "Введите 1 или больше."
    assert (
        await sla.locator("p.error").text_content()
        == "Форма не сохранена; посмотрите отмеченные поля."
    )
    await phone.fill("20")
    await sla.locator('[name="minutes.email"]').fill("45")
    await submit(page, sla)
    saved = (await api(base, token, "/api/v1/admin/settings"))["sla_minutes"]
    assert (saved["phone"], saved["email"], saved["web_form"]) == (20, 45, 30)
    assert await page.locator('#sla [name="minutes.phone"]').input_value() == "20"

    escalation = page.locator("#sla form.escalation-form", has_text="Sales")
    await escalation.locator('select[name="escalation"]').select_option("notify_head")
    await escalation.locator('[name="escalation_grace_minutes"]').fill("30")
    await submit(page, escalation)
    sales = next(
        t for t in (await api(base, token, "/api/v1/admin/teams"))["items"] if t["name"] == "Sales"
    )
    assert (sales["escalation"], sales["escalation_grace_minutes"]) == ("notify_head", 30)

    spam = page.locator("#spam-thresholds form")
    await spam.locator('[name="suspicious"]').fill("2")
    await spam.locator('[name="junk"]').fill("1.5")
    assert await spam.locator('[name="junk"]').evaluate("el => el.validity.rangeUnderflow")
    await spam.evaluate("f => { f.noValidate = true }")
    await spam.locator("button[type=submit]").click()
    assert await field_error(spam, "junk") == "Должно быть не меньше порога подозрительности (2)."
    await spam.locator('[name="junk"]').fill("2.5")
    await submit(page, spam)
    await page.locator("#sla").scroll_into_view_if_needed()
    await doc_shot(page.locator("#sla"), "console-rules-deadlines.png")
    thresholds = (await api(base, token, "/api/v1/admin/settings"))["spam_thresholds"]
    assert (thresholds["suspicious"], thresholds["junk"], thresholds["max_recent_from_ip"]) == (
        2,
        2.5,
        10,
    )


async def every_day_off_means_never(page: Page, base: str, token: str, uid: int) -> None:
    """Every day ticked "day off" in the grid: a manager never on duty, not always."""
    await page.goto(f"{base}/admin/people")
    form = (await open_user(page, uid)).locator("form.edit-user")
    for box in await form.locator("[data-hours-grid] input[data-off]").all():
        await box.check()
    await submit(page, form)
    hours = (await api(base, token, f"/api/v1/admin/users/{uid}"))["working_hours"]
    assert hours == {day: [] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    assert "never (every day off)" in (
        await page.locator(f'tr[data-user="{uid}"]').text_content() or ""
    )
    form = (await open_user(page, uid)).locator("form.edit-user")
    assert not await form.locator("[data-always]").is_checked()
    await page.goto(f"{base}/admin/rules")
    outcome, headline, reasons = await dry_run(
        page,
        email="b@partner.test",
        phone="+74951234567",
        utm_source="partner",
        at="2026-12-07T05:00",
    )
    assert outcome == "queued" and "Partners" in headline, headline
    assert "is outside working hours" in reasons


async def test_admin_makes_a_manager_who_gets_leads_then_absence_reset_deactivate_ru(
    tmp_path: Path,
) -> None:
    async with chromium() as browser, leadflow_running(tmp_path) as started:
        base, token = started.http_url, started.seed.admin_token
        assert token is not None
        pw = started.seed.passwords[ADMIN]
        ctx = await browser.new_context(
            locale="ru-RU", timezone_id="Europe/Moscow", viewport={"width": 1100, "height": 900}
        )
        page = await ctx.new_page()
        await sign_in(page, base, ADMIN, pw)
        admin_id = await user_id(base, token, ADMIN)
        await set_own_settings(page, base, admin_id, "ru", "Europe/Moscow")
        assert "Europe/Moscow" in (await page.text_content("header") or "")
        assert await page.text_content("h1") == "Сотрудники"

        new_user = page.locator("#new-user form")
        await new_user.locator('[name="name"]').fill("Вера Новая")
        await new_user.locator('[name="email"]').fill("vera@demo.leadflow.test")
        await new_user.locator('[name="password"]').fill("first-password-42")
        await new_user.locator("input[data-zone-picker]").fill("Москва")  # a city, as typed
        await new_user.locator("input[data-zone-picker]").blur()
        assert await new_user.locator("input[data-zone-picker]").input_value() == "Europe/Moscow"
        await submit(page, new_user)
        vera = await user_id(base, token, "vera@demo.leadflow.test")
        made = await api(base, token, f"/api/v1/admin/users/{vera}")
        assert (made["role"], made["timezone"], made["working_hours"]) == (
            "manager",
            "Europe/Moscow",
            None,
        )

        sales = page.locator("section.team", has_text="Sales")
        add = sales.locator("form.add-member")
        await add.locator("select[data-path]").select_option(label="Вера Новая")
        await add.locator('[name="capacity"]').fill("5")
        await submit(page, add)
        others = [
            m["user_id"]
            for t in (await api(base, token, "/api/v1/admin/teams"))["items"]
            if t["name"] == "Sales"
            for m in t["members"]
            if m["user_id"] != vera
        ]
        assert len(others) == 3
        for uid in others:
            form = page.locator(f'tr[data-member="{uid}"] form.member-form')
            await form.locator('[name="capacity"]').fill("0")
            await submit(page, form)
        members = next(
            t["members"]
            for t in (await api(base, token, "/api/v1/admin/teams"))["items"]
            if t["name"] == "Sales"
        )
        assert {m["user_id"]: m["capacity"] for m in members} == {
            **dict.fromkeys(others, 0),
            vera: 5,
        }

        await post_form(base, "contact", name="Ольга", email="olga@vega.test", message="Ремонт")
        leads = await until_lead(base, token, 1)
        assert leads["items"][0]["assignee"]["id"] == vera

        await page.goto(f"{base}/admin/rules")
        outcome, headline, reasons = await dry_run(page, email="spam@vega.test", text=XSS)
        assert outcome == "junk_lead" and "мусор" in headline, headline
        assert await page.evaluate("window.__xss") is None
        outcome, headline, reasons = await dry_run(page, email="next@vega.test", text="Ремонт")
        assert outcome == "new_lead" and "Вера Новая" in headline, headline
        # The reasons in Russian, the deadline in Moscow time and relative to now.
        assert "нет места (0/0 открытых лидов)" in reasons, reasons
        assert "Первый контакт до" in reasons and "через 30 мин" in reasons, reasons
        await csrf_is_required(page)
        await sla_and_escalation_with_form_controls(page, base, token)

        # An absence typed in Moscow wall time: stored as that instant, and it stops her leads.
        moscow = ZoneInfo("Europe/Moscow")
        start = (datetime.now(UTC) - timedelta(hours=1)).astimezone(moscow).replace(second=0)
        await page.goto(f"{base}/admin/people")
        details = await open_user(page, vera)
        absence = details.locator("form.add-absence")
        await absence.locator('[name="starts_at"]').fill(start.strftime("%Y-%m-%dT%H:%M"))
        await absence.locator('[name="ends_at"]').fill(
            (start + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
        )
        await absence.locator('[name="reason"]').fill("отпуск")
        await submit(page, absence)
        stored = (await api(base, token, f"/api/v1/admin/users/{vera}/absences"))["items"]
        assert [a["reason"] for a in stored] == ["отпуск"]
        assert datetime.fromisoformat(stored[0]["starts_at"]) == start.replace(microsecond=0)
        assert "отпуск" in (await (await open_user(page, vera)).text_content() or "")
        await page.goto(f"{base}/admin/rules")
        outcome, headline, reasons = await dry_run(page, email="later@vega.test")
        assert outcome == "queued", headline
        assert "Вера Новая отсутствует" in reasons, reasons

        # A generated password, shown once, signs her in; the manager cannot use admin pages.
        await page.goto(f"{base}/admin/people")
        reset = (await open_user(page, vera)).locator("form.reset")
        await reset.locator("button[type=submit]").click()
        secret = reset.locator("code.secret")
        await secret.wait_for(timeout=10_000)
        generated = (await secret.text_content() or "").strip()
        assert len(generated) >= 12
        await shot(page, "admin-people-ru.png")
        vera_ctx = await browser.new_context(locale="ru-RU", timezone_id="Europe/Moscow")
        vera_page = await vera_ctx.new_page()
        await sign_in(vera_page, base, "vera@demo.leadflow.test", generated)
        await forbidden_to_a_manager(vera_ctx, base)

        # Deactivated: her session ends and she cannot sign in again.
        deactivate = user_details(page, vera).locator("form", has=page.locator("[data-action]"))
        await submit(page, deactivate)
        assert (await api(base, token, f"/api/v1/admin/users/{vera}"))["active"] is False
        await vera_page.goto(f"{base}/queue")
        assert "/login" in vera_page.url
        await vera_ctx.close()
        await phone_checks(browser, "ru-RU", "Europe/Moscow", base, pw)
        await ctx.close()


async def test_admin_sets_hours_and_routing_rules_and_dry_runs_them_en(tmp_path: Path) -> None:
    async with chromium() as browser, leadflow_running(tmp_path) as started:
        base, token = started.http_url, started.seed.admin_token
        assert token is not None
        pw = started.seed.passwords[ADMIN]
        ctx = await browser.new_context(
            locale="en-US", timezone_id="America/New_York", viewport={"width": 1100, "height": 900}
        )
        page = await ctx.new_page()
        await sign_in(page, base, ADMIN, pw)
        admin_id = await user_id(base, token, ADMIN)
        await set_own_settings(page, base, admin_id, "en", "America/New_York")
        assert await page.text_content("h1") == "People"

        # Boris works Mon-Fri 09:00-18:00 (his Moscow time), and Mondays 19:00-21:00 too,
        # set with his edit form's week grid (unticking "always" starts from Mon-Fri 9-18).
        boris = await user_id(base, token, BORIS)
        form = (await open_user(page, boris)).locator("form.edit-user")
        grid = form.locator("[data-hours-grid]")
        await grid.locator("[data-always]").uncheck()
        monday = grid.locator('.hours-day[data-day="mon"]')
        await monday.locator("[data-add-span]").click()
        await monday.locator("input[type=time]").nth(2).fill("19:00")
        await monday.locator("input[type=time]").nth(3).fill("21:00")
        await grid.locator('.hours-day[data-day="sat"] [data-off]').uncheck()
        saturday = grid.locator('.hours-day[data-day="sat"] input[type=time]')
        await saturday.nth(0).fill("10:00")
        await saturday.nth(1).fill("00:00")  # the midnight that ends the day
        await submit(page, form)
        boris_hours = {
            **{d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
            "mon": [["09:00", "18:00"], ["19:00", "21:00"]],
            "sat": [["10:00", "24:00"]],
            "sun": [],  # every day is sent: a day off as []
        }
        hours = (await api(base, token, f"/api/v1/admin/users/{boris}"))["working_hours"]
        assert hours == boris_hours

        # Renaming him keeps both Monday intervals (the grid holds every interval of a day).
        form = (await open_user(page, boris)).locator("form.edit-user")
        assert await form.locator('.hours-day[data-day="mon"] .hours-span').count() == 2
        await form.locator('[name="name"]').fill("Boris Petrov-Vodkin")
        await submit(page, form)
        renamed = await api(base, token, f"/api/v1/admin/users/{boris}")
        assert (renamed["name"], renamed["working_hours"]) == ("Boris Petrov-Vodkin", boris_hours)
        assert renamed["timezone"] == "Europe/Moscow"

        # A team of one, and a customer-typed name that stays text.
        teams = page.locator(
            "section.card", has=page.locator('form[data-api="/api/v1/admin/teams"]')
        )
        await teams.locator('[name="name"]').fill("Partners")
        await submit(page, teams.locator("form"))
        partners = page.locator("section.team", has_text="Partners")
        add = partners.locator("form.add-member")
        await add.locator("select[data-path]").select_option(str(boris))
        await submit(page, add)
        new_user = page.locator("#new-user form")
        await new_user.locator('[name="name"]').fill(XSS[:200])
        await new_user.locator('[name="email"]').fill("probe@demo.leadflow.test")
        await submit(page, new_user)
        assert await page.evaluate("window.__xss") is None
        await page.locator("#users tr[data-user]").first.wait_for()
        await open_user(page, boris)
        await page.locator(f'tr[data-user="{boris}"]').scroll_into_view_if_needed()
        await doc_shot(page, "console-people.png")

        await page.goto(f"{base}/admin/rules")
        new_rule = page.locator("form.new-rule")
        await new_rule.locator('[name="priority"]').fill("10")
        await new_rule.locator('select[name="team_id"]').select_option(label="Partners")
        await new_rule.locator('select[name="channel"]').select_option("web_form")
        await new_rule.locator('[name="utm_source"]').fill("partner")
        await submit(page, new_rule)
        rules = (await api(base, token, "/api/v1/admin/routing-rules"))["items"]
        assert [(r["priority"], r["channel"], r["utm_source"]) for r in rules] == [
            (10, "web_form", "partner")
        ]
        edit = page.locator(
            f'form[data-api="/api/v1/admin/routing-rules/{rules[0]["id"]}"].edit-rule'
        )
        await page.locator(f'tr[data-rule="{rules[0]["id"]}"] + tr summary').click()
        await edit.locator('[name="priority"]').fill("7")
        await edit.locator('[name="phone_country"]').fill("RU")
        await submit(page, edit)
        changed = (await api(base, token, "/api/v1/admin/routing-rules"))["items"][0]
        assert (changed["priority"], changed["phone_country"], changed["utm_source"]) == (
            7,
            "RU",
            "partner",
        )

        # Saturday 09:00 in Moscow (01:00 in New York): before Boris's Saturday starts.
        outcome, headline, reasons = await dry_run(
            page,
            email="buyer@partner.test",
            phone="+7 495 123-45-67",
            utm_source="partner",
            at="2026-12-05T01:00",
        )
        assert outcome == "queued", headline
        assert "Partners" in headline
        assert "Rule #1 (priority 7) matched" in reasons, reasons
        assert "Boris Petrov-Vodkin is outside working hours" in reasons
        outcome, headline, reasons = await dry_run(
            page,
            email="buyer@partner.test",
            phone="+7 495 123-45-67",
            utm_source="partner",
            at="2026-12-07T05:00",  # Monday 13:00 in Moscow
        )
        assert outcome == "new_lead" and "Boris Petrov" in headline and "Partners" in headline
        # Monday 13:00 in Moscow: due 30 min later, shown in New York time.
        assert "5:30\u202fAM EST, in 30 min" in reasons, reasons
        outcome, headline, reasons = await dry_run(page, email="plain@x.test")
        assert "No rule matched" in reasons and "Sales" in headline
        await dry_run(
            page,
            email="buyer@partner.test",
            phone="+74951234567",
            utm_source="partner",
            at="2026-12-07T05:00",
        )
        await page.locator("#dry-run").scroll_into_view_if_needed()
        await doc_shot(page, "console-rules.png")
        await every_day_off_means_never(page, base, token, boris)

        delete = page.locator(f'tr[data-rule="{rules[0]["id"]}"] form[data-method="DELETE"]')
        await submit(page, delete)
        assert (await api(base, token, "/api/v1/admin/routing-rules"))["items"] == []
        await csrf_is_required(page)
        await phone_checks(browser, "en-US", "America/New_York", base, pw)

        boris_ctx = await browser.new_context(locale="en-US", timezone_id="America/New_York")
        boris_pw = started.seed.passwords[BORIS]
        await sign_in(await boris_ctx.new_page(), base, BORIS, boris_pw)
        await forbidden_to_a_manager(boris_ctx, base)
        await boris_ctx.close()
        await ctx.close()
