"""`CpuWindow`: the embedded broker's share of a core, over a whole window only."""

from __future__ import annotations

import os

from leadflow.broker_cpu import CpuWindow, cpu_seconds


def test_no_share_until_a_whole_window_was_seen() -> None:
    w = CpuWindow(30)
    assert w.share() is None
    w.add(0, 10.0)
    w.add(20, 20.0)
    assert w.share() is None, "20 s of a 30 s window"
    w.add(30, 25.0)
    assert w.share() == 0.5


def test_the_share_covers_the_last_window_not_the_whole_life() -> None:
    w = CpuWindow(30)
    for t in range(0, 121, 5):
        # Idle for a minute, then 80 % of a core.
        w.add(t, 0.0 if t <= 60 else (t - 60) * 0.8)
    share = w.share()
    assert share is not None and abs(share - 0.8) < 1e-9


def test_a_busy_start_ages_out() -> None:
    w = CpuWindow(10)
    for t in range(0, 61, 5):
        w.add(t, min(t, 20) * 0.9)  # busy for 20 s, then idle
    assert w.share() == 0.0


def test_cleared_after_a_restart() -> None:
    w = CpuWindow(10)
    w.add(0, 100.0)
    w.add(10, 105.0)
    w.clear()
    w.add(12, 0.1)  # the new process's counter starts again near zero
    w.add(22, 1.1)
    assert w.share() == 0.1


def test_cpu_seconds_reads_this_process_and_none_for_no_process() -> None:
    spent = cpu_seconds(os.getpid())
    assert spent is not None and spent > 0
    assert cpu_seconds(2**22 + 12345) is None
