"""`leadflow up --processes split`: the edge and the consumer in two supervised children.

A form post becomes a lead; a consumer child killed with SIGKILL is started again and
loses nothing that was accepted; SIGTERM stops the children and the broker. The
embedded broker killed with SIGKILL is started again too, in either mode.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from leadflow.broker import free_port

from .test_cli import LEADFLOW, _get, _post_form, _wait

pytestmark = pytest.mark.integration


def _children(pid: int) -> dict[str, int]:
    """The parent's `leadflow serve` children by role: {"edge": pid, "ingest": pid}."""
    out = subprocess.run(
        ["ps", "--ppid", str(pid), "-o", "pid=,args="], capture_output=True, text=True, check=False
    )
    found: dict[str, int] = {}
    for line in out.stdout.splitlines():
        child, _, args = line.strip().partition(" ")
        if "serve ingest" in args:
            found["ingest"] = int(child)
        elif "serve connectors console" in args:
            found["edge"] = int(child)
    return found


def _up(tmp_path: Path, mode: str) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    port = free_port()
    env = {
        **os.environ,
        "LEADFLOW_HTTP__PORT": str(port),
        "LEADFLOW_DATA_DIR": str(tmp_path / "data"),
        "LEADFLOW_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path}/data/leadflow.db",
    }
    proc = subprocess.Popen(
        [*LEADFLOW, "up", "--demo", "--processes", mode],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc, f"http://127.0.0.1:{port}", tmp_path / "data"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


@pytest.fixture
def split_up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    yield from _up(tmp_path, "split")


@pytest.fixture(params=["split", "one"])
def any_up(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    yield from _up(tmp_path, request.param)


def _post_twenty(base: str, tag: str) -> None:
    """Twenty form posts, each answered 202 (from the journal, whatever is down)."""
    for i in range(20):
        body = f"name={tag}{i}&email={tag}{i}@example.com&message=hi".encode()
        status, _ = _post_form(f"{base}/forms/contact", body)
        assert status == 202


def _first_lead(base: str, data: Path) -> Callable[[], int]:
    """Once `leadflow up` is ready, post one form and wait for its lead; how to count
    the leads from then on."""
    _wait(lambda: _get(f"{base}/readyz")[0] == 200, timeout=90)
    token = (data / "admin-token").read_text().strip()

    def leads() -> int:
        return int(_get(f"{base}/api/v1/leads?limit=1", token)[1].get("total", 0))

    status, _ = _post_form(
        f"{base}/forms/contact", b"name=Ivan&email=ivan@example.com&message=Need+20+licenses"
    )
    assert status == 202
    _wait(lambda: leads() == 1, timeout=60)
    return leads


@pytest.mark.timeout(300)  # three cold starts of LeadFlow on a loaded machine
def test_split_mode_takes_a_form_post_to_a_lead_and_survives_a_killed_consumer(
    split_up: tuple[subprocess.Popen[str], str, Path],
) -> None:
    proc, base, data = split_up
    leads = _first_lead(base, data)

    children = _wait(lambda: (c := _children(proc.pid)) and len(c) == 2 and c)
    os.kill(children["ingest"], signal.SIGKILL)
    # Accepted while the consumer is dead: the edge keeps answering from the journal.
    _post_twenty(base, "k")
    restarted = _wait(
        lambda: (c := _children(proc.pid)).get("ingest") not in (None, children["ingest"]) and c,
        timeout=60,
    )
    assert restarted["edge"] == children["edge"], "the edge process was not touched"
    _wait(lambda: leads() == 21, timeout=120)
    time.sleep(1)
    assert leads() == 21, "nothing was stored twice"

    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "edge and ingest in separate processes" in out
    assert "ingest (pid" in err, "the supervisor logged the killed child"
    for child in restarted.values():
        with pytest.raises(ProcessLookupError):
            os.kill(child, 0)  # stopped with LeadFlow, not orphaned


def _broker_pid(parent: int) -> int | None:
    """The embedded Tansu's pid: a child of the `leadflow up` process."""
    out = subprocess.run(
        ["ps", "--ppid", str(parent), "-o", "pid=,args="],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in out.stdout.splitlines():
        child, _, args = line.strip().partition(" ")
        if "tansu" in args:
            return int(child)
    return None


@pytest.mark.timeout(300)
def test_a_killed_embedded_broker_is_started_again_and_nothing_accepted_is_lost(
    any_up: tuple[subprocess.Popen[str], str, Path],
) -> None:
    proc, base, data = any_up
    leads = _first_lead(base, data)

    first = _wait(lambda: _broker_pid(proc.pid))
    os.kill(first, signal.SIGKILL)
    _post_twenty(base, "b")
    _wait(lambda: _broker_pid(proc.pid) not in (None, first), timeout=60)
    _wait(lambda: leads() == 21, timeout=150)
    time.sleep(1)
    assert leads() == 21, "nothing was stored twice"

    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "the embedded broker exited" in err
