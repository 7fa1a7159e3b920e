"""No secret reaches the log: `leadflow up` at DEBUG with a Telegram bot, a web form post,
and every line it wrote searched for the bot token.

The bot polls a local fake of the Bot API, whose URLs carry the token
(`/bot<TOKEN>/getUpdates`) exactly as api.telegram.org's do; httpx logs each one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from leadflow.broker import free_port
from leadflow.logs import QUIET_LOGGERS, REDACTED, configure_logging

from .channel_helpers import eventually, fixture
from .fake_telegram import FakeBotApi

pytestmark = pytest.mark.integration

TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
ADMIN_TOKEN = "lf-admin-Zq81mP0vX"


async def test_the_bot_token_never_reaches_the_log_of_a_debug_run(tmp_path: Path) -> None:
    update = fixture("telegram", "private_text")
    fake = FakeBotApi([update])
    port = free_port()
    log_file = tmp_path / "leadflow.log"
    async with fake.serve() as root:
        config = tmp_path / "leadflow.toml"
        config.write_text(
            f'log_level = "DEBUG"\nadmin_token = "{ADMIN_TOKEN}"\n'
            f"[http]\nport = {port}\n"
            f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path}/leadflow.db"\n'
            f'[[telegram_bots]]\nname = "sales"\ntoken = "{TOKEN}"\n'
            f'api_base_url = "{root}"\npoll_timeout_s = 0\n'
        )
        env = {**os.environ, "LEADFLOW_DATA_DIR": str(tmp_path / "data")}
        with log_file.open("w") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "leadflow",
                "--config",
                str(config),
                "up",
                "--demo",
                cwd=tmp_path,
                env=env,
                stdout=out,
                stderr=out,
            )
            try:
                # The bot has polled, published the update and moved its offset past it.
                await eventually(lambda: update["update_id"] + 1 in fake.offsets, within=60)
                async with aiohttp.ClientSession() as http:
                    form = await http.post(
                        f"http://127.0.0.1:{port}/forms/contact",
                        data={"name": "Ivan", "email": "ivan@example.com"},
                    )
                    assert form.status == 202
            finally:
                proc.send_signal(signal.SIGTERM)
                async with asyncio.timeout(60):
                    await proc.wait()
    written = log_file.read_text()
    assert "DEBUG" in written, "the run logged at DEBUG"
    assert "getMe" in fake.calls and "getUpdates" in fake.calls
    assert TOKEN not in written
    assert TOKEN.split(":", 1)[1] not in written
    assert ADMIN_TOKEN not in written


def _clear_root() -> tuple[list[logging.Handler], int, dict[str, int]]:
    root = logging.getLogger()
    return (
        list(root.handlers),
        root.level,
        {n: logging.getLogger(n).level for n in QUIET_LOGGERS},
    )


async def test_the_filter_redacts_httpx_lines_even_when_httpx_logs_at_debug(tmp_path: Path) -> None:
    """The second defence alone: httpx's request lines pass the filter redacted."""
    import httpx

    root = logging.getLogger()
    handlers, level, levels = _clear_root()
    stream_path = tmp_path / "out.log"
    try:
        with stream_path.open("w") as stream:
            configure_logging("DEBUG", stream=stream)
            assert all(logging.getLogger(n).level == logging.WARNING for n in QUIET_LOGGERS)
            for name in QUIET_LOGGERS:
                logging.getLogger(name).setLevel(logging.DEBUG)
            fake = FakeBotApi()
            async with fake.serve() as root_url, httpx.AsyncClient() as client:
                await client.post(f"{root_url}/bot{TOKEN}/getMe")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        for name, value in levels.items():
            logging.getLogger(name).setLevel(value)
    written = stream_path.read_text()
    assert "HTTP Request: POST" in written, "httpx logged its request line"
    assert f"/bot{REDACTED}/getMe" in written
    assert TOKEN not in written
