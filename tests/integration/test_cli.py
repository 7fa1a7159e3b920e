"""`leadflow` as a user runs it: `up --demo`, a curl-style POST, the read API, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from leadflow.broker import free_port

pytestmark = pytest.mark.integration
LEADFLOW = [sys.executable, "-m", "leadflow"]


def _get(url: str, token: str | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _post_form(url: str, body: bytes) -> tuple[int, dict]:  # type: ignore[type-arg]
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(request, timeout=10) as resp:
        return resp.status, json.loads(resp.read())


def _wait(predicate, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    # Generous: a cold start on a loaded 2-core machine took over 20 s; not a timing check.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = predicate()
        except (OSError, urllib.error.URLError):
            result = None
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_schema_prints_the_inquiry_json_schema() -> None:
    out = subprocess.run([*LEADFLOW, "schema"], capture_output=True, text=True, check=True)
    schema = json.loads(out.stdout)
    assert schema["title"] == "Inquiry"
    assert "idempotency_key" in schema["properties"]


def test_bad_config_file_is_a_clear_error(tmp_path: Path) -> None:
    out = subprocess.run(
        [*LEADFLOW, "--config", str(tmp_path / "missing.toml"), "migrate"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2
    assert "missing.toml" in out.stderr


def test_up_demo_end_to_end_and_clean_stop(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "LEADFLOW_HTTP__PORT": str(port),
        "LEADFLOW_DATA_DIR": str(tmp_path / "data"),
        "LEADFLOW_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path}/data/leadflow.db",
    }
    proc = subprocess.Popen(
        [*LEADFLOW, "up", "--demo"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _get(f"{base}/readyz")[0] == 200)
        token = (tmp_path / "data" / "admin-token").read_text().strip()
        status, body = _post_form(
            f"{base}/forms/contact",
            b"name=Ivan Petrov&email=ivan@example.com&phone=8 (912) 345-67-89&message=Need 20 licenses",
        )
        assert status == 202
        assert body["inquiry_id"]

        def lead_is_there() -> dict | None:  # type: ignore[type-arg]
            _, page = _get(f"{base}/api/v1/leads", token)
            return page if page.get("total") == 1 else None

        page = _wait(lead_is_there)
        lead = page["items"][0]
        assert lead["assignee"]["name"] in {"Anna Ivanova", "Boris Petrov", "Sofia Sidorova"}
        assert lead["contact"]["phone"] == "+79123456789"
        assert lead["activities"][0]["status"] == "planned"
        assert lead["first_contact_due_at"]
        assert _get(f"{base}/healthz")[1] == {"status": "alive"}
        ready = _get(f"{base}/readyz")[1]
        assert ready["journal"]["accepting"] is True
        assert {"entries", "bytes", "oldest_age_s"} <= set(ready["journal"])
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as resp:
            metrics = resp.read().decode()
        assert 'leadflow_journal_events_total{event="appended"} 1.0' in metrics
        assert "leadflow_journal_oldest_age_seconds" in metrics
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "admin API token" in out
    assert token in out
    assert f"{base}/forms/contact" in out
    assert "safe in the edge journal" in err
    assert (tmp_path / "data" / "journal.sqlite3").is_file()
    tansu = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, check=False)
    assert tansu.stdout == b"", "the embedded broker stopped with LeadFlow"
