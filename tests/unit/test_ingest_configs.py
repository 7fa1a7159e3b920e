"""The consumer's batch linger follows the store unless the admin sets it."""

from __future__ import annotations

import pytest

from ingest.contract import Topics
from leadflow.ingest_configs import batch_linger_ms, consumer_config
from leadflow.settings import load_settings

SQLITE = "sqlite+aiosqlite:///.leadflow/leadflow.db"
POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/leadflow"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(SQLITE, 0, id="sqlite-takes-each-batch-at-once"),
        pytest.param(POSTGRES, 25, id="postgresql-gathers"),
    ],
)
def test_unset_the_linger_is_the_stores(
    url: str, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEADFLOW_KAFKA__BATCH_LINGER_MS", raising=False)
    settings = load_settings(database={"url": url})
    assert settings.kafka.batch_linger_ms is None
    assert batch_linger_ms(settings) == expected
    assert consumer_config(settings, "127.0.0.1:9092", Topics()).linger_max_ms == expected


@pytest.mark.parametrize("url", [SQLITE, POSTGRES])
@pytest.mark.parametrize("value", ["0", "25", "7"])
def test_a_set_linger_wins_on_either_store(
    url: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADFLOW_KAFKA__BATCH_LINGER_MS", value)
    assert batch_linger_ms(load_settings(database={"url": url})) == int(value)


def test_a_negative_linger_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFLOW_KAFKA__BATCH_LINGER_MS", "-1")
    with pytest.raises(ValueError, match="batch_linger_ms"):
        load_settings()
