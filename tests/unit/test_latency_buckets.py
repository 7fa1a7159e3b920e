"""Stage latency counts: each observation lands in the first bucket that holds it."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from connectors.journal import EdgeJournal
from connectors.latency import LatencyBuckets
from connectors.relay import Relay, RelayConfig
from ingest.contract import Topics
from ingest.contract.latency import LATENCY_BOUNDS as BOUNDS
from leadflow.edge_journal import JournalCollector
from tests.factories import make_inquiry


def test_an_observation_counts_in_its_bucket_and_every_wider_one() -> None:
    b = LatencyBuckets()
    b.observe(0.004)  # ≤ 0.005
    b.observe(0.005)  # on the bound: ≤ 0.005 as Prometheus's `le` means
    b.observe(0.3)
    cumulative = dict(b.cumulative())
    assert cumulative["0.0025"] == 0
    assert cumulative["0.005"] == 2
    assert cumulative["0.2"] == 2
    assert cumulative["0.3"] == 3
    assert cumulative["+Inf"] == 3
    assert abs(b.total - 0.309) < 1e-9


def test_beyond_the_last_bound_only_inf_counts_it_and_a_clock_step_back_is_zero() -> None:
    b = LatencyBuckets()
    b.observe(BOUNDS[-1] * 2)
    b.observe(-0.5)  # the wall clock stepped back: counted as no time at all
    cumulative = b.cumulative()
    assert cumulative[0] == ("0.001", 1)
    assert cumulative[-2] == (str(BOUNDS[-1]), 1)
    assert cumulative[-1] == ("+Inf", 2)
    assert len(cumulative) == len(BOUNDS) + 1


def test_observe_since_counts_each_start_against_one_now() -> None:
    b = LatencyBuckets()
    b.observe_since(10.0, [9.999, 9.99, 9.0])
    assert dict(b.cumulative())["0.001"] == 1
    assert dict(b.cumulative())["0.01"] == 2
    assert dict(b.cumulative())["1.0"] == 3


async def test_the_journal_counts_every_append_once_it_is_fsynced(tmp_path: Path) -> None:
    clock = [100.0]
    async with EdgeJournal(tmp_path / "j.sqlite3", clock=lambda: clock[0]) as journal:
        first = make_inquiry()
        await journal.publish(first)
        await journal.publish(first)  # a duplicate waited for its commit too
        assert dict(journal.fsynced.cumulative())["+Inf"] == 2
        entries = await journal.due(10, republish_before=0.0)
    assert [e.appended_at for e in entries] == [100.0]


async def test_metrics_export_the_stage_counts_as_a_prometheus_histogram(tmp_path: Path) -> None:
    async with EdgeJournal(tmp_path / "j.sqlite3") as journal:
        await journal.publish(make_inquiry())
        relay = Relay(journal, RelayConfig(bootstrap_servers="127.0.0.1:1", topics=Topics()))
        relay.acked.observe(0.004)
        registry = CollectorRegistry()
        registry.register(JournalCollector(journal, relay))
        text = generate_latest(registry).decode()
    assert 'leadflow_journal_latency_seconds_count{stage="fsynced"} 1.0' in text
    assert 'leadflow_journal_latency_seconds_bucket{le="0.005",stage="relayed"} 1.0' in text
    assert 'leadflow_journal_latency_seconds_bucket{le="0.0025",stage="relayed"} 0.0' in text
