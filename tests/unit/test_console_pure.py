"""The console's pure parts: passwords, report arithmetic, charts,
safe links."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from console import charts
from console.passwords import hash_password, verify_password
from console.spreadsheet import safe_cell
from console.web import safe_url
from crm_store.reports import LeadFacts, histogram, percentile, summarize

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def facts(minutes: float | None, *, due: float | None = 30, status: str = "new") -> LeadFacts:
    first = T0 + timedelta(minutes=minutes) if minutes is not None else None
    return LeadFacts(
        uuid.uuid4(),
        T0,
        "web_form",
        status,
        1,
        1,
        first,
        T0 + timedelta(minutes=due) if due is not None else None,
        first,
    )


def test_password_hash_verifies_and_is_salted() -> None:
    a, b = hash_password("correct horse"), hash_password("correct horse")
    assert a != b and a.startswith("scrypt$16384$8$1$")
    assert verify_password("correct horse", a)
    assert not verify_password("wrong", a)
    assert not verify_password("x", None)
    assert not verify_password("x", "plain-text")


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        pytest.param([], 50, None, id="empty"),
        pytest.param([5], 90, 5, id="one"),
        pytest.param([1, 2, 3, 4], 50, 2, id="median-even"),
        pytest.param(list(range(1, 11)), 90, 9, id="p90"),
        pytest.param([10, 1, 5], 50, 5, id="unsorted"),
    ],
)
def test_percentile_nearest_rank(values: list[float], p: float, expected: float | None) -> None:
    assert percentile(values, p) == expected


def test_summary_counts_sla_kept_missed_and_pending() -> None:
    now = T0 + timedelta(hours=2)
    rows = [
        facts(10),
        facts(45),
        facts(None, due=300),  # not due yet: undecided
        facts(None, due=30, status="junk"),  # open past due: missed
        facts(5, due=None, status="converted"),
    ]
    row = summarize(rows, id_=1, name="Anna", now=now)
    assert (row.sla_kept, row.sla_missed, row.sla_kept_pct) == (1, 2, 33.3)
    assert row.first_response_median_min == 10
    assert row.first_response_p90_min == 45
    assert (row.converted, row.junk, row.received) == (1, 1, 5)
    assert [b.count for b in histogram(rows)] == [0, 2, 0, 1, 0, 0]


def test_charts_scale_and_handle_empty_data() -> None:
    assert charts.stacked_columns([]).empty
    chart = charts.stacked_columns(
        [("11-26", {"email": 2, "web_form": 1}), ("11-27", {"email": 3})]
    )
    assert len(chart.rects) == 3
    assert max(r.h for r in chart.rects) == pytest.approx((charts.HEIGHT - 2 * charts.PAD) * 3 / 3)
    sla = charts.bars([("Anna", 95.0), ("Boris", 50.0)], maximum=100, unit="%")
    assert [r.color for r in sla.rects] == ["#16a34a", "#dc2626"]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://shop.example/landing?x=1", True),
        ("http://example.com", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("data:text/html,<script>", False),
        ("//evil.example", False),
        ("", False),
    ],
)
def test_only_http_links_are_links(url: str, shown: bool) -> None:
    assert (safe_url(url) == url and bool(url)) is shown


@pytest.mark.parametrize(
    ("cell", "safe"), [("=SUM(A1)", "'=SUM(A1)"), ("+1", "'+1"), ("Anna", "Anna"), ("12", "12")]
)
def test_csv_cells_never_start_a_formula(cell: str, safe: str) -> None:
    assert safe_cell(cell) == safe
