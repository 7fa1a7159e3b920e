"""The head's control in Chromium, against the whole runtime, with fifty managers.

Helen, the demo head, reads the live team board, sorts it, watches a row change
when leads move, selects leads in the queue and reassigns them with a reason; the
reports' charts stay readable with fifty managers. Once in Russian in Moscow, once
in English in New York. A manager gets a 403, writes need the CSRF token, names and
titles carrying an XSS probe stay text, and a phone shows it all without sideways
scrolling. Screenshots: docs/console-team.png and docs/console-reports.png.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page
from sqlalchemy import select

from crm_store import accounts
from crm_store.database import open_database
from crm_store.models import Absence, Activity, AppUser, Lead, Team

from .test_console_browser import XSS, api, chromium, doc_shot, leadflow_running, shot, sign_in

pytestmark = pytest.mark.integration

HELEN = "helen.head@demo.leadflow.test"
ANNA = "anna.ivanova@demo.leadflow.test"
FIRST = ["Александр", "Дмитрий", "Евгений", "Иван", "Олег", "Павел", "Юрий"]
SURNAMES = ["Кузнецов", "Смирнова", "Попов", "Васильева", "Соколов", "Михайлова", "Новиков"]


async def seed_fifty(tmp_path: Path) -> None:
    """47 more managers in Sales (50 with the demo's three), each with some leads today:
    first contacts kept and missed, overdue calls; some absent, off hours or inactive."""
    now = datetime.now(UTC)
    url = f"sqlite+aiosqlite:///{tmp_path}/leadflow.db"
    async with open_database(url) as db, db.sessions() as session, session.begin():
        team_id = await session.scalar(select(Team.id).where(Team.name == "Sales"))
        assert team_id is not None
        for i in range(47):
            name = f"{SURNAMES[i % 7]} {FIRST[i // 7]} Сергеевич"
            if i == 5:
                name = f"Probe {XSS}"
            user_id = await accounts.upsert_user(
                session,
                email=f"m{i:02}@demo.leadflow.test",
                name=name,
                role="manager",
                now=now,
                active=i != 46,
                timezone="Europe/Moscow",
            )
            await accounts.upsert_member(
                session, team_id=team_id, user_id=user_id, capacity=10, active=True
            )
            if i % 11 == 3:
                session.add(
                    Absence(
                        user_id=user_id,
                        starts_at=now - timedelta(days=1),
                        ends_at=now + timedelta(days=1),
                        reason="vacation",
                    )
                )
            if i % 13 == 7:
                user = await session.get_one(AppUser, user_id)
                user.working_hours = {"mon": []}
            made = [_lead(team_id, user_id, now, i, k) for k in range(i % 6 + 1)]
            session.add_all([lead for lead, _ in made])
            await session.flush()  # the leads before their activities (foreign keys)
            session.add_all([a for _, activities in made for a in activities])
    # The runtime reads the same file; this engine is closed before the browser acts.


def _lead(team_id: int, user_id: int, now: datetime, i: int, k: int) -> tuple[Lead, list[Any]]:
    lead_id = uuid.uuid4()
    created = now - timedelta(minutes=30 + 7 * k + i)
    title = f"Заявка {i}-{k}" if (i, k) != (5, 0) else XSS
    lead = Lead(
        id=lead_id,
        status="new",
        channel=["web_form", "email", "telegram", "phone"][(i + k) % 4],
        title=title,
        team_id=team_id,
        assignee_id=user_id,
        created_at=created,
        updated_at=created,
        assigned_at=created,
        first_contact_due_at=created + timedelta(minutes=15),
    )
    # Kept when (i + k) is even, missed when not; none is left open past its deadline,
    # so the runtime's SLA watcher has nothing to move while the test watches.
    late = (i + k) % 2 == 1
    activities = [
        Activity(
            id=uuid.uuid4(),
            lead_id=lead_id,
            assignee_id=user_id,
            kind="call",
            direction="outbound",
            status="done",
            subject="First contact",
            is_first_contact=True,
            due_at=created + timedelta(minutes=15),
            done_at=created + timedelta(minutes=25 if late else 5),
            created_at=created,
        )
    ]
    if k % 3 == 0:
        activities.append(
            Activity(
                id=uuid.uuid4(),
                lead_id=lead_id,
                assignee_id=user_id,
                kind="call",
                direction="outbound",
                status="planned",
                subject="Call back",
                due_at=now - timedelta(minutes=5 + k),
                created_at=created,
            )
        )
    return lead, activities


async def users(base: str, token: str) -> dict[str, int]:
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
        http.get(f"{base}/api/v1/admin/users?limit=200") as resp,
    ):
        assert resp.status == 200, await resp.text()
        return {u["email"]: u["id"] for u in (await resp.json())["items"]}


async def no_sideways_scroll_and_big_targets(page: Page, selectors: list[str]) -> None:
    width = await page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= 390, f"{page.url} scrolls sideways: {width}px"
    for selector in selectors:  # none: the page's width only
        boxes = [await el.bounding_box() for el in await page.query_selector_all(selector)]
        assert boxes, selector
        small = [b for b in boxes if b is not None and min(b["height"], b["width"]) < 40]
        assert not small, f"{selector}: tap targets under 40 px: {small[:3]}"


async def board_rows(page: Page) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = await page.evaluate(
        """() => Array.from(document.querySelectorAll('#team-board tbody tr[data-user]')).map(
            (tr) => Object.fromEntries(Array.from(tr.cells).map(
              (td) => [td.dataset.field, td.dataset.value])))"""
    )
    return rows


async def test_a_russian_head_in_moscow_runs_fifty_managers_from_the_board(
    tmp_path: Path,
) -> None:
    async with chromium() as browser, leadflow_running(tmp_path) as started:
        base, token = started.http_url, started.seed.admin_token or ""
        await seed_fifty(tmp_path)
        ids = await users(base, token)
        context = await browser.new_context(
            locale="ru-RU", timezone_id="Europe/Moscow", viewport={"width": 1280, "height": 900}
        )
        page = await context.new_page()
        await sign_in(page, base, HELEN, started.seed.passwords[HELEN])
        await page.click("nav a[href='/team']")
        assert await page.text_content("h1") == "Панель команды"
        assert "Europe/Moscow" in (await page.text_content("main p.muted") or "")
        rows = await board_rows(page)
        assert len(rows) == 50, "every manager of Sales, the inactive one holding leads too"
        assert await page.evaluate("window.__xss") is None
        assert await page.locator("#team-board td", has_text="<script>").count() == 1
        states = {r["state"] for r in rows}
        assert {"working", "absent", "off_hours", "inactive"} <= states
        await page.click("button[data-sort=overdue]")
        overdue = [int(r["overdue"]) for r in await board_rows(page)]
        assert overdue == sorted(overdue, reverse=True) and overdue[0] > 0
        await shot(page, "team-board-ru.png")
        await doc_shot(page, "console-team.png")

        # The board follows a reassignment made elsewhere, without a reload.
        moving = ids["m00@demo.leadflow.test"]
        row = page.locator(f'#team-board tr[data-user="{moving}"] td[data-field=load_pct]')
        assert (await row.text_content() or "").startswith("1 / 10")
        leads = await api(base, token, f"/api/v1/leads?assignee_id={moving}")
        await api(
            base,
            token,
            "/api/v1/leads/reassign",
            method="POST",
            body={
                "lead_ids": [leads["items"][0]["id"]],
                "manager_id": ids[ANNA],
                "reason": "отпуск",
            },
        )
        await page.wait_for_function(
            f"""() => document.querySelector(
              '#team-board tr[data-user="{moving}"] td[data-field=load_pct]'
            ).textContent.startsWith("0 / 10")""",
            timeout=15_000,
        )
        assert await page.evaluate("window.__xss") is None

        # From a manager's name to their leads, all selected and given to Anna.
        giver = ids["m05@demo.leadflow.test"]
        await page.click(f'#team-board tr[data-user="{giver}"] td[data-field=name] a')
        await page.wait_for_selector("#reassign-form")
        assert await page.evaluate("window.__xss") is None
        assert await page.locator(".lead-row .title", has_text="<script>").count() == 1
        await page.check("#select-page")
        assert await page.text_content("[data-selected]") == "6"
        await page.select_option("#reassign-form select[name=manager_id]", str(ids[ANNA]))
        await page.fill("#reassign-form input[name=reason]", "Больничный, клиенты ждут")
        await page.click("#reassign-form button[type=submit]")
        message = page.locator("#reassign-form .error[data-outcome=ok]")
        await message.wait_for(timeout=10_000)
        assert "Передано менеджеру Anna Ivanova: 6" in (await message.text_content() or "")
        card = await api(base, token, f"/api/v1/leads/{leads['items'][0]['id']}/card")
        assert card["ledger"][-1]["reason"] == "Administrator: отпуск"
        # Without the CSRF token the same call is refused.
        status = await page.evaluate(
            """async (id) => (await fetch('/api/v1/leads/reassign', {method: 'POST',
                headers: {'Content-Type': 'application/json'},
                body: JSON.stringify({lead_ids: [id], manager_id: 1, reason: 'x'})})).status""",
            leads["items"][0]["id"],
        )
        assert status == 403

        # A phone: no sideways scrolling, every new control a finger can hit.
        phone = await browser.new_context(
            locale="ru-RU", timezone_id="Europe/Moscow", viewport={"width": 390, "height": 844}
        )
        small = await phone.new_page()
        await sign_in(small, base, HELEN, started.seed.passwords[HELEN])
        await small.goto(f"{base}/team")
        await no_sideways_scroll_and_big_targets(small, ["button[data-sort]", "td a"])
        await small.goto(f"{base}/queue?assignee={ids[ANNA]}")
        await no_sideways_scroll_and_big_targets(
            small,
            [
                ".pick",
                ".pick-all",
                "#reassign-form select",
                "#reassign-form input[name=reason]",
                "#reassign-form button",
            ],
        )
        await shot(small, "queue-reassign-phone.png")
        await small.goto(f"{base}/reports")
        await no_sideways_scroll_and_big_targets(small, [])
        await phone.close()

        # A manager: neither the board nor the reassignment.
        manager = await browser.new_context(locale="ru-RU", timezone_id="Europe/Moscow")
        anna = await manager.new_page()
        await sign_in(anna, base, ANNA, started.seed.passwords[ANNA])
        assert await anna.locator("nav a[href='/team']").count() == 0
        response = await anna.goto(f"{base}/team")
        assert response is not None and response.status == 403
        status = await anna.evaluate(
            """async (id) => (await fetch('/api/v1/leads/reassign', {method: 'POST',
                headers: {'Content-Type': 'application/json', 'X-CSRF-Token':
                  document.querySelector('meta[name=csrf-token]').content},
                body: JSON.stringify({lead_ids: [id], manager_id: 1, reason: 'x'})})).status""",
            leads["items"][0]["id"],
        )
        assert status == 403
        await manager.close()
        await context.close()


async def test_an_english_head_in_new_york_reassigns_and_reads_the_reports(
    tmp_path: Path,
) -> None:
    async with chromium() as browser, leadflow_running(tmp_path) as started:
        base, token = started.http_url, started.seed.admin_token or ""
        await seed_fifty(tmp_path)
        ids = await users(base, token)
        await api(
            base,
            token,
            f"/api/v1/admin/users/{ids[HELEN]}",
            method="PATCH",
            body={"language": "en", "timezone": "America/New_York"},
        )
        context = await browser.new_context(
            locale="en-US", timezone_id="America/New_York", viewport={"width": 1280, "height": 900}
        )
        page = await context.new_page()
        await sign_in(page, base, HELEN, started.seed.passwords[HELEN])
        await page.goto(f"{base}/team")
        assert await page.text_content("h1") == "Team board"
        assert "America/New_York" in (await page.text_content("main p.muted") or "")
        assert len(await board_rows(page)) == 50

        giver = ids["m10@demo.leadflow.test"]
        await page.goto(f"{base}/queue?assignee={giver}")
        boxes = page.locator(".lead-row .pick input")
        assert await boxes.count() == 5
        await boxes.nth(0).check()
        await boxes.nth(1).check()
        assert await page.text_content("[data-selected]") == "2"
        # The target must be active: an inactive manager is not offered, and the API says why.
        inactive = ids["m46@demo.leadflow.test"]
        options = await page.locator("#reassign-form select option").evaluate_all(
            "(els) => els.map((e) => e.value)"
        )
        assert len(options) == 1 + 49 and str(inactive) not in options
        status, detail = await page.evaluate(
            """async ([id, to]) => { const r = await fetch('/api/v1/leads/reassign', {
                method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRF-Token':
                  document.querySelector('meta[name=csrf-token]').content},
                body: JSON.stringify({lead_ids: [id], manager_id: to, reason: 'x'})});
                return [r.status, (await r.json()).detail]; }""",
            [await boxes.nth(0).get_attribute("value"), inactive],
        )
        assert (status, detail) == (422, "This manager is inactive and cannot take leads.")
        await page.select_option("#reassign-form select[name=manager_id]", str(ids[ANNA]))
        await page.fill("#reassign-form input[name=reason]", "Customer asked for Anna")
        await page.click("#reassign-form button[type=submit]")
        message = page.locator("#reassign-form .error[data-outcome=ok]")
        await message.wait_for(timeout=10_000)
        assert "Reassigned to Anna Ivanova: 2. Already theirs: 0." in (
            await message.text_content() or ""
        )
        await page.wait_for_function(
            "() => document.querySelectorAll('.lead-row').length === 3", timeout=15_000
        )

        await page.goto(f"{base}/reports")
        sla = page.locator("section.card", has_text="SLA kept, per manager")
        assert await sla.locator(".chart-scroll").count() == 1, "fifty bars scroll in the card"
        names = await sla.locator("text[text-anchor=end]").evaluate_all(
            """(els) => els.filter((e) => Number(e.getAttribute('x')) < 190).map((e) => {
                const b = e.getBBox(); return [b.y, b.y + b.height, b.x]; })"""
        )
        assert len(names) >= 47
        assert all(a[1] <= b[0] + 0.5 for a, b in pairwise(names)), "labels overlap"
        assert all(x >= 0 for _, _, x in names), (
            f"a name runs off the left edge: {sorted(names, key=lambda n: n[2])[:3]}"
        )
        values = await sla.locator("rect title").all_text_contents()
        pcts = [float(v.rsplit(": ", 1)[1].rstrip("%")) for v in values]
        assert pcts == sorted(pcts), "worst SLA first"
        per_manager = page.locator("section.card", has_text="Leads per manager")
        bars = await per_manager.locator("rect title").all_text_contents()
        assert len(bars) == 13 and bars[-1].startswith("Others:")
        assert await page.evaluate("window.__xss") is None
        await page.set_viewport_size({"width": 1280, "height": 1400})
        await doc_shot(page, "console-reports.png")
        await shot(page, "reports-fifty-en.png")
        await context.close()
