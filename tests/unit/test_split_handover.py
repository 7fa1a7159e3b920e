"""`leadflow up` in split mode starts its children first and hands them the broker's
address on stdin once it runs: what a child accepts, and what the command line imports
before the handover (issue 11: a restart after kill -9 answers sooner)."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from leadflow.processes import Child, take_handover
from leadflow.roles import Role


def test_the_handover_sets_the_broker_for_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # Set first, so that monkeypatch puts the environment back after the handover.
    monkeypatch.setenv("LEADFLOW_KAFKA__BOOTSTRAP_SERVERS", "unset")
    line = '{"LEADFLOW_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:39092"}\n'
    assert take_handover(io.StringIO(line)) is True
    assert os.environ["LEADFLOW_KAFKA__BOOTSTRAP_SERVERS"] == "127.0.0.1:39092"


def test_a_closed_pipe_means_the_parent_is_stopping() -> None:
    assert take_handover(io.StringIO("")) is False


@pytest.mark.parametrize(
    "line",
    ['{"PATH": "/tmp/evil"}\n', '["LEADFLOW_KAFKA__BOOTSTRAP_SERVERS"]\n', "not json\n"],
)
def test_anything_but_a_handover_is_refused(line: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", os.environ.get("PATH", ""))
    before = dict(os.environ)
    with pytest.raises(ValueError, match=r"handover|Expecting value"):
        take_handover(io.StringIO(line))
    assert dict(os.environ) == before


def test_a_child_waits_for_its_parent() -> None:
    argv = Child("ingest", (Role.INGEST,), {}).argv()
    assert argv[-3:] == ["ingest", "--no-seed", "--after-parent"]


def test_the_command_line_imports_no_role_before_it_must() -> None:
    """What `leadflow up` imports before it starts its children: no store, web app,
    consumer or bot library (seconds of CPU, paid again by each child)."""
    code = (
        "import sys, leadflow.cli, leadflow.processes; "
        "print(' '.join(m for m in ('sqlalchemy', 'telegram', 'openpyxl', 'aiohttp.web', "
        "'alembic', 'leadflow.runtime', 'console.api', 'ingest.consumer') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []


def test_the_roles_code_leaves_the_bot_library_to_the_first_bot() -> None:
    """A child imports its roles' code while it waits; python-telegram-bot (half a
    second) and openpyxl are not part of it until a bot runs or a sheet is exported."""
    code = (
        "import sys, leadflow.runtime; "
        "print(' '.join(m for m in ('telegram', 'openpyxl', 'alembic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []
