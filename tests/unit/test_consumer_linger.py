"""When the consumer waits for a small batch to grow (`linger_s`), and when it never does."""

from __future__ import annotations

import pytest

from ingest.consumer_config import linger_s


@pytest.mark.parametrize(
    ("fetched", "limit", "last_batch", "last_batch_s", "cap_s", "expected"),
    [
        pytest.param(1, 500, 1, 0.5, 0.025, 0.0, id="one after one: a low rate, go at once"),
        pytest.param(1, 500, 0, 0.0, 0.025, 0.0, id="the first record"),
        pytest.param(2, 500, 1, 0.010, 0.025, 0.010, id="queued meanwhile: as long as the last"),
        pytest.param(1, 500, 30, 0.010, 0.025, 0.010, id="one prefetched after a busy batch"),
        pytest.param(40, 500, 40, 0.5, 0.025, 0.025, id="never longer than the cap"),
        pytest.param(250, 500, 40, 0.5, 0.025, 0.0, id="half full already"),
        pytest.param(2, 3, 2, 0.5, 0.025, 0.0, id="a small limit is soon full"),
        pytest.param(40, 500, 40, 0.5, 0.0, 0.0, id="turned off"),
    ],
)
def test_linger(
    fetched: int, limit: int, last_batch: int, last_batch_s: float, cap_s: float, expected: float
) -> None:
    assert linger_s(fetched, limit, last_batch, last_batch_s, cap_s) == pytest.approx(expected)
