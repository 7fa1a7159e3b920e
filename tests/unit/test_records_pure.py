"""How the record pages write a phone, list the ways to reach a contact, and total
a company's open deals."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from console.display import phone
from crm_store.deals import DealRow
from crm_store.parties import identities_of, open_total


@pytest.mark.parametrize(
    ("e164", "region", "shown"),
    [
        pytest.param("+79035551234", "RU", "8 (903) 555-12-34", id="home-region-dials-nationally"),
        pytest.param("+79035551234", "US", "+7 903 555-12-34", id="abroad-with-country-code"),
        pytest.param("+12125550100", "RU", "+1 212-555-0100", id="us-number-in-russia"),
        pytest.param("+12125550100", "us", "(212) 555-0100", id="region-any-case"),
        pytest.param("+7903", "RU", "+7903", id="not-a-number-as-stored"),
        pytest.param("olga", "RU", "olga", id="text-as-stored"),
        pytest.param(None, "RU", "—", id="none"),
    ],
)
def test_phone_is_written_as_the_region_dials_it(e164: str | None, region: str, shown: str) -> None:
    assert phone(e164, region) == shown


def test_each_way_to_reach_a_contact_is_listed_once_phones_first() -> None:
    rows = [("email", "olga@roga.example"), ("telegram", "olga_p"), ("phone", "+79035551234")]
    listed = identities_of("olga@roga.example", "+79035551234", rows)
    assert [(i.kind, i.value) for i in listed] == [
        ("phone", "+79035551234"),
        ("email", "olga@roga.example"),
        ("telegram", "olga_p"),
    ]
    assert identities_of(None, None, []) == []


def _deal(stage: str, amount: float | None) -> DealRow:
    now = datetime.now(UTC)
    return DealRow(
        id=uuid.uuid4(),
        title="t",
        stage=stage,
        amount=amount,
        owner=None,
        created_at=now,
        closed_at=None,
    )


def test_the_open_total_skips_won_lost_and_unpriced_deals_and_adds_in_cents() -> None:
    deals = [
        _deal("new", 0.1),
        _deal("proposal", 0.2),
        _deal("negotiation", None),
        _deal("won", 1000),
        _deal("lost", 500),
    ]
    assert open_total(deals) == (3, 0.3)
    assert open_total([]) == (0, 0.0)
