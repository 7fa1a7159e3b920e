"""When the consumer waits for a small batch to grow (`linger_s`), and when it never does."""

from __future__ import annotations

import pytest

from ingest.consumer import linger_s


@pytest.mark.parametrize(
    ("fetched", "limit", "last_batch_s", "cap_s", "expected"),
    [
        pytest.param(1, 500, 0.5, 0.025, 0.0, id="one record: a low rate, go at once"),
        pytest.param(0, 500, 0.5, 0.025, 0.0, id="nothing fetched"),
        pytest.param(2, 500, 0.010, 0.025, 0.010, id="queued meanwhile: as long as the last"),
        pytest.param(40, 500, 0.5, 0.025, 0.025, id="never longer than the cap"),
        pytest.param(250, 500, 0.5, 0.025, 0.0, id="half full already"),
        pytest.param(2, 3, 0.5, 0.025, 0.0, id="a small limit is soon full"),
        pytest.param(40, 500, 0.5, 0.0, 0.0, id="turned off"),
        pytest.param(40, 500, 0.0, 0.025, 0.0, id="first batch: nothing measured yet"),
    ],
)
def test_linger(
    fetched: int, limit: int, last_batch_s: float, cap_s: float, expected: float
) -> None:
    assert linger_s(fetched, limit, last_batch_s, cap_s) == pytest.approx(expected)
