# ruff: noqa: RUF001  (Russian names: Cyrillic letters are intended)
"""Report charts that still read with fifty managers: sorted, top-N, never overlapping."""

from __future__ import annotations

from itertools import pairwise

import pytest

from console import charts

FIFTY = [(f"Manager with a rather long name {i:02}", float((i * 37) % 101)) for i in range(50)]


def test_fifty_bars_keep_one_row_each_and_their_labels_apart() -> None:
    chart = charts.bars(FIFTY, maximum=100, unit="%", order="asc")
    names = [label for label in chart.labels if label.x == charts.LEFT - 6]
    assert len(names) == 50
    gaps = [b.y - a.y for a, b in pairwise(names)]
    assert min(gaps) >= 18, "18-unit text needs at least 18 units between rows"
    assert chart.height >= 50 * 18
    assert chart.scrolls, "a chart this tall scrolls inside its card"
    assert all(len(label.text) <= charts.LABEL_CHARS for label in names)
    assert all(r.title.startswith("Manager with a rather long name") for r in chart.rects)


@pytest.mark.parametrize(
    ("order", "first", "last"),
    [
        pytest.param("asc", 0.0, 100.0, id="worst-first"),
        pytest.param("desc", 100.0, 0.0, id="best-first"),
    ],
)
def test_bars_are_sorted_by_value(order: str, first: float, last: float) -> None:
    chart = charts.bars(FIFTY, maximum=100, unit="%", order=order)
    values = [float(r.title.rsplit(": ", 1)[1].rstrip("%")) for r in chart.rects]
    assert values[0] == first and values[-1] == last
    assert values == sorted(values, reverse=order == "desc")


def test_histogram_buckets_keep_their_order() -> None:
    chart = charts.bars([("<5", 1.0), ("5-15", 9.0), (">15", 3.0)])
    assert [r.title.split(":")[0] for r in chart.rects] == ["<5", "5-15", ">15"]
    assert not chart.scrolls


def test_top_n_folds_the_rest_into_others() -> None:
    items = [(f"M{i}", float(i)) for i in range(50)]
    shown = charts.top(items, 12, "Others")
    assert len(shown) == 13
    assert [v for _, v in shown[:12]] == [float(v) for v in range(49, 37, -1)]
    assert shown[-1] == ("Others", float(sum(range(38))))
    assert charts.top(items[:13], 12, "Others") == sorted(items[:13], key=lambda item: -item[1]), (
        "one item left over is shown, not folded"
    )


def test_the_others_bar_is_grey_not_one_more_person() -> None:
    shown = charts.top([(f"M{i}", float(i)) for i in range(20)], 5, "Others")
    chart = charts.bars(shown, muted="Others")
    colors = {r.title.split(":")[0]: r.color for r in chart.rects}
    assert colors["Others"] == charts.MUTED
    assert colors["M19"] == charts.PALETTE[0]


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        pytest.param("Anna Ivanova", "Anna Ivanova", id="fits"),
        pytest.param("Кузнецов Александр Сергеевич", "Кузнецов А. С.", id="initials"),
        pytest.param("Константинопольский Александр", "Константинопол…", id="cut"),
    ],
)
def test_long_names_become_initials_or_are_cut(name: str, shown: str) -> None:
    assert charts.short(name) == shown
