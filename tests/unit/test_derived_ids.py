"""Ids made from other ids.

`derived_id` must stay what uuid5 gave: the notifier, the SLA watcher and the review
derive their rows' ids from an event, a lead or a record, and a redelivery after an
upgrade must give the same ids, or it would write (and notify) twice.

`row_id`, the consumer's row ids, keeps the inquiry id's time prefix so the store's
indexes grow at their end (issue 11); `new_inquiry_id` makes time-ordered inquiry
ids (RFC 9562 version 7)."""

from __future__ import annotations

import hashlib
import random
import time
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.contract import Inquiry, new_inquiry_id
from ingest.row_ids import _NAMESPACE, derived_id, row_id
from tests.factories import make_inquiry


@pytest.mark.parametrize(
    "role",
    [
        pytest.param("lead", id="lead"),
        pytest.param("identity:email:анна@пример.рф", id="non-ascii"),
        pytest.param("", id="empty-role"),
    ],
)
def test_a_derived_id_is_the_uuid5_of_its_role(role: str) -> None:
    inquiry_id = uuid.UUID("0b5b8a62-3f0e-4b4c-9a53-2d6f0c1e7a10")
    derived = derived_id(inquiry_id, role)
    assert derived == uuid.uuid5(_NAMESPACE, f"{role}:{inquiry_id}")
    assert (derived.version, derived.variant) == (5, uuid.RFC_4122)


@given(st.uuids(), st.text(max_size=40))
def test_any_inquiry_and_role_give_the_uuid5(inquiry_id: uuid.UUID, role: str) -> None:
    assert derived_id(inquiry_id, role) == uuid.uuid5(_NAMESPACE, f"{role}:{inquiry_id}")


@given(st.uuids(), st.text(max_size=40))
def test_a_row_id_is_stable_and_keeps_the_inquiry_ids_time(
    inquiry_id: uuid.UUID, role: str
) -> None:
    made = row_id(inquiry_id, role)
    assert made == row_id(inquiry_id, role)
    assert made.bytes[:6] == inquiry_id.bytes[:6]
    assert (made.version, made.variant) == (8, uuid.RFC_4122)
    assert made != derived_id(inquiry_id, role)


def _first_row_id(inquiry_id: uuid.UUID, role: str) -> uuid.UUID:
    """`row_id` as it was first written (issue 11): the ids it planned are stored, so
    every later spelling must give exactly these."""
    name = f"{role}:{inquiry_id}".encode()
    digest = hashlib.sha1(_NAMESPACE.bytes + name, usedforsecurity=False).digest()
    value = int.from_bytes(inquiry_id.bytes[:6] + digest[:10])
    clear = ~(0xC000 << 48) & ~(0xF000 << 64)
    return uuid.UUID(int=value & clear | (0x8000 << 48) | (8 << 76))


@given(st.uuids(), st.text(max_size=40))
def test_a_row_id_is_what_the_first_formula_gave(inquiry_id: uuid.UUID, role: str) -> None:
    assert row_id(inquiry_id, role) == _first_row_id(inquiry_id, role)


def test_row_ids_stay_the_first_formulas_across_many_inquiries() -> None:
    """More inquiries than `row_id` keeps the text of, asked in the consumer's order
    (a pass per batch, each inquiry's roles together), so ids leave its cache and come
    back; and equal ids in other objects."""
    rng = random.Random(11)
    inquiry_ids = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(1500)]
    inquiry_ids += [new_inquiry_id() for _ in range(500)]
    roles = ["lead", "contact", "first-contact", "ack", "event:lead.created:", "", "é:ü"]
    for _ in range(2):
        for inquiry_id in inquiry_ids:
            again = uuid.UUID(bytes=inquiry_id.bytes)
            email = f"identity:email:user{rng.randrange(10**6)}@example.com"
            for role in [*roles, email]:
                expected = _first_row_id(inquiry_id, role)
                assert row_id(inquiry_id, role) == expected
                assert row_id(again, role) == expected
                assert derived_id(inquiry_id, role) == uuid.uuid5(
                    _NAMESPACE, f"{role}:{inquiry_id}"
                )


def test_each_role_of_one_inquiry_gets_its_own_row_id() -> None:
    inquiry_id = new_inquiry_id()
    roles = ["lead", "contact", "company", "inbound", "first-contact", "ack", "ledger:initial"]
    roles += [f"identity:email:user{i}@example.com" for i in range(200)]
    assert len({row_id(inquiry_id, role) for role in roles}) == len(roles)


def test_new_inquiry_ids_are_version_7_and_carry_their_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    made = new_inquiry_id()
    after = time.time_ns() // 1_000_000
    assert (made.version, made.variant) == (7, uuid.RFC_4122)
    assert before <= int.from_bytes(made.bytes[:6]) <= after
    assert uuid.UUID(str(made)) == made


def test_inquiry_ids_made_later_sort_later_and_so_do_their_rows() -> None:
    earlier = new_inquiry_id()
    time.sleep(0.002)
    later = new_inquiry_id()
    assert earlier < later
    assert str(earlier) < str(later)  # SQLite keeps them as hex text
    assert row_id(earlier, "lead") < row_id(later, "lead")
    assert row_id(earlier, "lead") < row_id(later, "contact")


def test_an_inquiry_gets_a_time_ordered_id_unless_it_brings_its_own() -> None:
    without_id = make_inquiry().model_dump(mode="json")
    del without_id["id"]
    assert Inquiry.model_validate(without_id).id.version == 7
    given_id = uuid.UUID("0b5b8a62-3f0e-4b4c-9a53-2d6f0c1e7a10")
    brought = Inquiry.model_validate_json(
        make_inquiry().model_copy(update={"id": given_id}).model_dump_json()
    )
    assert brought.id == given_id
    assert len({new_inquiry_id() for _ in range(10_000)}) == 10_000
