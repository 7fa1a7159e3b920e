# ruff: noqa: RUF001 - Russian text: Cyrillic letters are intended.
"""The pure parts of the leads table and the contact edit: what a typed contact becomes,
the links a phone and an email make, and the table's sort links and filters."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from console.lead_api import ContactBody, day_bounds, mailto_href, read_contact, tel_href
from console.lead_views import sort_link, table_query
from ingest.contract.i18n import Catalogs


@pytest.mark.parametrize(
    ("typed", "href"),
    [
        pytest.param("+79123456789", "tel:+79123456789", id="e164"),
        pytest.param("8 (912) 345-67-89", "tel:+79123456789", id="russian-trunk"),
        pytest.param("+1 212 555 0123", "tel:+12125550123", id="us"),
        pytest.param("call me", "", id="words"),
        pytest.param("javascript:alert(1)", "", id="script"),
        pytest.param(None, "", id="none"),
    ],
)
def test_a_phone_links_in_e164_or_not_at_all(typed: str | None, href: str) -> None:
    assert tel_href(typed, "RU") == href


@pytest.mark.parametrize(
    ("typed", "href"),
    [
        pytest.param("Anna@Example.COM", "mailto:anna@example.com", id="normalized"),
        # A valid local part, encoded: it names the address and adds no "cc" header.
        pytest.param("a?cc=x@example.com", "mailto:a%3Fcc%3Dx@example.com", id="no-smuggling"),
        pytest.param("not an address", "", id="words"),
        pytest.param(None, "", id="none"),
    ],
)
def test_an_email_links_only_when_it_is_one(typed: str | None, href: str) -> None:
    assert mailto_href(typed) == href


def test_a_typed_contact_is_normalized_and_cleared_fields_are_none() -> None:
    body = ContactBody.model_validate(
        {"name": "  Ольга Петрова\x07 ", "phone": "8 903 555-12-34", "email": "", "company": None}
    )
    changes, errors = read_contact(body, "RU", lambda s: s)
    assert errors == {}
    assert changes.given == {"name", "phone", "email", "company"}
    assert (changes.name, changes.phone, changes.email, changes.company) == (
        "Ольга Петрова",
        "+79035551234",
        None,
        None,
    )


def test_a_field_not_sent_is_kept() -> None:
    changes, _ = read_contact(ContactBody.model_validate({"name": "A"}), "RU", lambda s: s)
    assert changes.given == {"name"}


def test_every_wrong_field_is_named_at_once_in_the_readers_language() -> None:
    body = ContactBody.model_validate({"phone": "12", "email": "x@", "name": "n" * 501})
    _, errors = read_contact(body, "RU", Catalogs.load().get("ru").gettext)
    assert set(errors) == {"phone", "email", "name"}
    assert errors["phone"].startswith("Не номер телефона")
    assert "500" in errors["name"]


def test_days_are_the_viewers_midnights() -> None:
    start, before = day_bounds(date(2026, 12, 1), date(2026, 12, 2), ZoneInfo("Europe/Moscow"))
    assert start == datetime(2026, 11, 30, 21, tzinfo=UTC)
    assert before == datetime(2026, 12, 2, 21, tzinfo=UTC)
    assert day_bounds(None, None, UTC) == (None, None)


@pytest.mark.parametrize(
    ("current", "key", "wanted", "state"),
    [
        pytest.param("-created_at", "title", "sort=title", "none", id="text-starts-at-a"),
        pytest.param("title", "title", "sort=-title", "ascending", id="second-click-reverses"),
        pytest.param("-title", "title", "sort=title", "descending", id="third-click-back"),
        pytest.param("title", "amount", "sort=-amount", "none", id="amounts-largest-first"),
        pytest.param("title", "created_at", "/leads?status=new", "none", id="default-sort-dropped"),
    ],
)
def test_a_header_click_sorts_and_keeps_the_filters(
    current: str, key: str, wanted: str, state: str
) -> None:
    q = table_query({"status": "new", "sort": current, "offset": "50"})
    href, aria = sort_link(q, key)
    assert wanted in href and "status=new" in href
    assert "offset" not in href, "a new order starts at its first page"
    assert aria == state


def test_filters_that_are_not_valid_are_dropped_not_refused() -> None:
    q = table_query({"status": "secret", "channel": "telegram", "from": "yesterday", "x": "1"})
    assert (q.status, q.channel, q.start) == (None, "telegram", None)
    reversed_ = table_query({"from": "2026-12-05", "to": "2026-12-01"})
    assert reversed_.start == date(2026, 12, 5) and reversed_.end is None
    assert table_query({"status": "new"}, board=True).status is None
