"""bench.checks: the verdicts `make bench` prints are judged right (no timing asserted)."""

from __future__ import annotations

import pytest

from bench.checks import (
    drain,
    fairness,
    latency_rate,
    lost_and_duplicated,
    over_capacity,
    peak_open,
    percentile,
    summary_ms,
    verdict,
)


@pytest.mark.parametrize(
    ("values", "p", "want"),
    [
        pytest.param([5.0], 99, 5.0, id="one-value"),
        pytest.param([float(i) for i in range(1, 101)], 50, 50.0, id="p50-of-1..100"),
        pytest.param([float(i) for i in range(1, 101)], 99, 99.0, id="p99-of-1..100"),
        pytest.param([float(i) for i in range(1, 101)], 100, 100.0, id="p100-is-max"),
        pytest.param([float(i) for i in range(1, 11)], 95, 10.0, id="p95-of-10-rounds-up"),
        pytest.param([3.0, 1.0, 2.0], 50, 2.0, id="unsorted-input"),
    ],
)
def test_percentile_is_nearest_rank(values: list[float], p: float, want: float) -> None:
    assert percentile(values, p) == want


def test_percentile_refuses_nothing_and_bad_ranks() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], 0)


def test_one_slow_request_in_a_hundred_is_the_p99_not_the_p95() -> None:
    values_s = [0.001] * 99 + [0.5]
    s = summary_ms(values_s)
    assert (s["p95_ms"], s["p99_ms"], s["max_ms"]) == (1.0, 1.0, 500.0)
    s = summary_ms([0.001] * 98 + [0.5, 0.5])
    assert s["p99_ms"] == 500.0


@pytest.mark.parametrize(
    ("value", "target", "at_most", "want"),
    [
        pytest.param(19.9, 20.0, True, "met", id="latency-under"),
        pytest.param(20.0, 20.0, True, "met", id="latency-equal"),
        pytest.param(20.1, 20.0, True, "missed", id="latency-over"),
        pytest.param(0.9, 0.85, False, "met", id="ratio-above"),
        pytest.param(0.8, 0.85, False, "missed", id="ratio-below"),
        pytest.param(None, 20.0, True, "missed", id="missing-figure"),
    ],
)
def test_verdict(value: float | None, target: float, at_most: bool, want: str) -> None:
    assert verdict(value, target, at_most=at_most) == want


def test_latency_rate_is_1000_or_80_percent_of_a_smaller_capacity() -> None:
    assert latency_rate(2500.0) == (1000.0, False)
    assert latency_rate(1000.0) == (1000.0, False)
    assert latency_rate(650.0) == (520.0, True)


@pytest.mark.parametrize(
    ("counts", "fair"),
    [
        pytest.param({1: 4, 2: 3, 3: 3}, True, id="one-ahead"),
        pytest.param({1: 3, 2: 3, 3: 3}, True, id="even"),
        pytest.param({1: 5, 2: 3, 3: 2}, False, id="two-apart"),
        pytest.param({1: 4, 2: 4, 3: 2}, False, id="one-behind-by-two"),
        pytest.param({1: 1, 2: 1}, True, id="two-leads-for-three"),
        pytest.param({1: 2, 2: 2}, False, id="a-member-got-none"),
        pytest.param({1: 1, 2: 1, 3: 1, 9: 1}, False, id="someone-outside-the-team"),
    ],
)
def test_fairness_equal_weights(counts: dict[int, int], fair: bool) -> None:
    assert fairness(counts, {1: 1, 2: 1, 3: 1}).fair is fair


def test_fairness_weighted_is_the_exact_share() -> None:
    assert fairness({1: 20, 2: 10}, {1: 2, 2: 1}).fair
    assert not fairness({1: 18, 2: 12}, {1: 2, 2: 1}).fair


def test_peak_open_follows_the_ledger_order() -> None:
    ledger = [(None, 1), (None, 1), (None, 2), (1, 2), (None, 1), (None, 2)]
    assert peak_open(ledger) == {1: 2, 2: 3}
    assert over_capacity(peak_open(ledger), {1: 2, 2: 2}) == {2: 1}
    assert over_capacity(peak_open(ledger), {1: 2, 2: 3}) == {}


def test_queued_leads_open_nobody() -> None:
    assert peak_open([(None, None), (None, 1)]) == {1: 1}


def test_lost_and_duplicated() -> None:
    assert lost_and_duplicated(["a", "b", "c"], ["a", "b", "c"]) == (0, 0)
    assert lost_and_duplicated(["a", "b", "c"], ["a", "a", "c"]) == (1, 1)
    assert lost_and_duplicated(["a"], ["a", "a", "a"]) == (0, 2)


def test_drain_measures_the_backlog_left_when_the_load_stopped() -> None:
    samples = [(0.0, 0), (1.0, 100), (2.0, 200), (3.0, 500), (5.0, 1000)]
    d = drain(samples, load_end=2.0, total=1000)
    assert (d.backlog, d.rate_per_s, d.seconds_to_empty) == (800, 266.7, 3.0)


def test_drain_that_never_empties_has_no_rate() -> None:
    d = drain([(0.0, 0), (1.0, 10)], load_end=0.5, total=100)
    assert (d.backlog, d.rate_per_s, d.seconds_to_empty) == (100, None, None)


def test_no_backlog_no_rate() -> None:
    d = drain([(0.0, 0), (1.0, 100)], load_end=1.0, total=100)
    assert (d.backlog, d.rate_per_s, d.seconds_to_empty) == (0, None, 0.0)
