"""Which processes `leadflow up` starts: `auto` (the default) splits the edge and the
consumer when two cores or more are available, and an explicit mode is obeyed."""

from __future__ import annotations

import os

import pytest

from leadflow.processes import ProcessMode, available_cpus, wants_split
from leadflow.settings import Settings


@pytest.mark.parametrize(
    ("mode", "cpus", "split"),
    [
        ("auto", 1, False),
        ("auto", 2, True),
        ("auto", 64, True),
        ("one", 8, False),
        ("split", 1, True),
    ],
)
def test_the_mode_and_the_cores_decide(mode: ProcessMode, cpus: int, split: bool) -> None:
    assert wants_split(mode, cpus) is split


def test_auto_is_the_default_and_the_environment_can_choose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LEADFLOW_PROCESSES", raising=False)
    assert Settings().processes == "auto"
    monkeypatch.setenv("LEADFLOW_PROCESSES", "one")
    assert Settings().processes == "one"


def test_a_typo_in_the_mode_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFLOW_PROCESSES", "spilt")
    with pytest.raises(ValueError, match="processes"):
        Settings()


def test_the_cores_counted_are_the_ones_this_process_may_use() -> None:
    assert available_cpus() == len(os.sched_getaffinity(0))
