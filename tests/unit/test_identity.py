"""Normalization of the sender's identity, and the partition key built from it."""

from __future__ import annotations

import pytest

from ingest.contract import InvalidIdentity, identity_key, normalize_email, normalize_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("Ivan@Example.COM", "ivan@example.com", id="lower-cases"),
        pytest.param("  ivan@example.com ", "ivan@example.com", id="strips-spaces"),
        pytest.param(
            "Ivan.Petrov+crm@Mail.Example.org",
            "ivan.petrov+crm@mail.example.org",
            id="plus-tag-kept",
        ),
        pytest.param("info@пример.рф", "info@xn--e1afmkfd.xn--p1ai", id="idna-domain"),
        pytest.param("sales@ПРИМЕР.РФ", "sales@xn--e1afmkfd.xn--p1ai", id="idna-upper"),
        pytest.param("a@b.test", "a@b.test", id="test-domain-allowed"),
    ],
)
def test_normalize_email(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("ivan", id="no-at"),
        pytest.param("ivan@", id="no-domain"),
        pytest.param("@example.com", id="no-local"),
        pytest.param("ivan@@example.com", id="double-at"),
        pytest.param("ivan example@example.com", id="space"),
        pytest.param("", id="empty"),
    ],
)
def test_invalid_email_is_refused_with_a_sentence(raw: str) -> None:
    with pytest.raises(InvalidIdentity, match="not a valid email"):
        normalize_email(raw)


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        pytest.param("8 (912) 345-67-89", "RU", "+79123456789", id="ru-trunk-8"),
        pytest.param("+7 912 345 67 89", "RU", "+79123456789", id="ru-plus7"),
        pytest.param("79123456789", "RU", "+79123456789", id="ru-bare-7"),
        pytest.param("9123456789", "RU", "+79123456789", id="ru-national"),
        pytest.param("+7 (495) 123-45-67", "RU", "+74951234567", id="moscow-landline"),
        pytest.param("+44 20 7946 0958", "RU", "+442079460958", id="uk-with-plus"),
        pytest.param("(202) 555-0143", "US", "+12025550143", id="us-region"),
        pytest.param("030 901820", "DE", "+4930901820", id="de-region"),
        pytest.param("+49 30 901820", "US", "+4930901820", id="explicit-country-wins"),
        pytest.param("79123456789", "US", "+79123456789", id="bare-7-any-region"),
    ],
)
def test_normalize_phone(raw: str, region: str, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("12", id="too-short"),
        pytest.param("not a phone", id="letters"),
        pytest.param("+7 000 000 00 00", id="invalid-range"),
        pytest.param("", id="empty"),
    ],
)
def test_invalid_phone_is_refused(raw: str) -> None:
    with pytest.raises(InvalidIdentity):
        normalize_phone(raw, "RU")


def test_partition_key_prefers_email_then_phone_then_user() -> None:
    by_email = identity_key(email="a@b.c", phone="+79123456789", channel="web_form", user_id=None)
    assert by_email == identity_key(email="a@b.c", phone=None, channel="telegram", user_id="1")
    by_phone = identity_key(email=None, phone="+79123456789", channel="phone", user_id=None)
    assert by_phone == identity_key(
        email=None, phone="+79123456789", channel="web_form", user_id=None
    )
    assert by_phone != by_email
    by_user = identity_key(email=None, phone=None, channel="telegram", user_id="42")
    assert by_user != identity_key(email=None, phone=None, channel="whatsapp", user_id="42")
