"""Derived row ids must stay what uuid5 gave: a batch stored before an upgrade and
replayed after it must produce the same ids, or the replay would write twice."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.pipeline import _NAMESPACE, derived_id


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
