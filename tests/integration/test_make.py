"""The Makefile as a person uses it: `make run ARGS=...` hands the arguments to
`leadflow up`, and `make link` puts `leadflow` on the PATH only where it may."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
LEADFLOW = ROOT / ".venv" / "bin" / "leadflow"


def make(*args: str, path: str | None = None) -> str:
    env = {**os.environ, "PATH": path or os.environ["PATH"]}
    done = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return done.stdout


def test_make_run_passes_args_to_leadflow_up() -> None:
    assert ".venv/bin/leadflow up --config leadflow.toml" in make(
        "-n", "run", "ARGS=--config leadflow.toml"
    )
    assert ".venv/bin/leadflow up --demo" in make("-n", "run")


def test_make_link_puts_leadflow_on_the_path_only_where_it_may(tmp_path: Path) -> None:
    on_path = tmp_path / "bin"
    on_path.mkdir()
    said = make("link", f"BINDIR={on_path}", path=f"{on_path}:{os.environ['PATH']}")
    link = on_path / "leadflow"
    assert link.is_symlink() and link.resolve() == LEADFLOW.resolve(), said
    schema = subprocess.run(
        [str(link), "schema"], capture_output=True, text=True, timeout=60, check=True
    )
    assert "idempotency_key" in schema.stdout

    elsewhere = tmp_path / "not-on-path"
    elsewhere.mkdir()
    hint = make("link", f"BINDIR={elsewhere}")
    assert not (elsewhere / "leadflow").exists()
    assert f"run {LEADFLOW}" in hint

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "leadflow").write_text("#!/bin/sh\necho my own\n")
    make("link", f"BINDIR={mine}", path=f"{mine}:{os.environ['PATH']}")
    assert (mine / "leadflow").read_text() == "#!/bin/sh\necho my own\n", "never replaced"
