# ruff: noqa: RUF001 - Russian text: Cyrillic letters are intended.
"""The phone finder every channel uses: numbers in free text, and what is not a number."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.email_body import BodySplit
from connectors.email_phone import find_email_phone
from ingest.contract import InvalidIdentity, Sender, find_phones, first_phone, read_phone_field
from ingest.contract.phones import SEARCH_MAX
from ingest.decoding import renormalized

from ..factories import make_inquiry


@pytest.mark.parametrize(
    ("text", "e164", "extension"),
    [
        pytest.param("+7 903 555-12-34 (Telegram)", "+79035551234", None, id="ru-plus7-words"),
        pytest.param("8 903 555 12 34 после обеда", "+79035551234", None, id="ru-trunk-8"),
        pytest.param("+7 (903) 555-12-34, Ольга", "+79035551234", None, id="ru-brackets"),
        pytest.param("79123456789", "+79123456789", None, id="ru-bare-7"),
        pytest.param("9035551234", "+79035551234", None, id="ru-ten-digits"),
        pytest.param("Пётр Сергеев | тел. 8-921-100-20-30", "+79211002030", None, id="ru-pipe"),
        pytest.param("тел./факс: 8 495 123 45 67", "+74951234567", None, id="ru-tel-fax"),
        pytest.param("тел. № 8 903 555 12 34", "+79035551234", None, id="ru-label-before-sign"),
        pytest.param(
            "Заказ №4471, звоните 8 903 555 12 34", "+79035551234", None, id="ru-order-then-call"
        ),
        pytest.param("+44 20 7946 0958", "+442079460958", None, id="en-uk"),
        pytest.param("call me on +1 (415) 555-2671 please", "+14155552671", None, id="en-us"),
        pytest.param("8 (495) 123-45-67 доб. 123", "+74951234567", "123", id="ext-dob"),
        pytest.param("8 903 555 12 34 доб 12", "+79035551234", "12", id="ext-dob-no-dot"),
        pytest.param(
            "тел. +7 495 123-45-67 (доб. 1234)", "+74951234567", "1234", id="ext-brackets"
        ),
        pytest.param("+7 903 555 12 34, вн. 123", "+79035551234", "123", id="ext-vn"),
        pytest.param("+1 415 555 2671 ext. 45", "+14155552671", "45", id="ext-en"),
        pytest.param("+1 415-555-2671 x45", "+14155552671", "45", id="ext-x"),
    ],
)
def test_finds_the_number(text: str, e164: str, extension: str | None) -> None:
    found = find_phones(text)
    assert found, f"no phone found in {text!r}"
    assert (found[0].e164, found[0].extension) == (e164, extension)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("ИНН 9031234567", id="inn-that-parses-as-a-mobile"),
        pytest.param("ИНН/КПП 7701234567/770101001", id="inn-kpp"),
        pytest.param("ОГРН 1027700132195", id="ogrn"),
        pytest.param("заказ № 89035551234", id="order-number"),
        pytest.param("Order #89035551234 is late", id="order-en"),
        pytest.param("№ 89035551234", id="number-sign"),
        pytest.param("счёт 9031234567 от 20.05", id="invoice"),
        pytest.param("Факс: 8 495 123 45 67", id="fax"),
        pytest.param("сумма 9 035 551 234 руб.", id="amount-rub"),
        pytest.param("Итого: 9035551234 ₽", id="amount-sign"),
        pytest.param("дата 12.03.2024, 20.05.2024 10:15", id="dates"),
        pytest.param("р/с 40702810900000001234", id="bank-account"),
        pytest.param("555-12-34", id="too-short"),
        pytest.param("client:alice", id="sip-client"),
    ],
)
def test_numbers_that_are_not_phones(text: str) -> None:
    assert find_phones(text) == ()


def test_several_numbers_keep_their_order() -> None:
    found = find_phones("8-903-555-12-34 или 8 495 123 45 67")
    assert [p.e164 for p in found] == ["+79035551234", "+74951234567"]


def test_first_phone_prefers_a_labelled_line() -> None:
    text = "Офис 8 (495) 123-45-67\nмоб. 8 916 123 45 67"
    assert first_phone(text) == find_phones(text)[1]
    assert first_phone("Офис 8 (495) 123-45-67") == find_phones("Офис 8 (495) 123-45-67")[0]
    assert first_phone("no number here") is None


def test_the_default_region_reads_local_numbers() -> None:
    assert find_phones("(415) 555-2671", "US")[0].e164 == "+14155552671"
    assert find_phones("(415) 555-2671", "RU")[0].e164 != "+14155552671"


@pytest.mark.parametrize(
    ("raw", "phone", "fields"),
    [
        pytest.param(
            "+7 903 555-12-34 (Telegram)", "+79035551234", {"phone_note": "Telegram"}, id="telegram"
        ),
        pytest.param(
            "8 903 555 12 34 после обеда",
            "+79035551234",
            {"phone_note": "после обеда"},
            id="after-lunch",
        ),
        pytest.param(
            "+7 (903) 555-12-34, Ольга", "+79035551234", {"phone_note": "Ольга"}, id="name"
        ),
        pytest.param(
            "Контактный телефон: 8 (495) 123-45-67 доб. 123",
            "+74951234567",
            {"phone_ext": "123"},
            id="label-is-no-note",
        ),
        pytest.param(
            "8-903-555-12-34 или 8 495 123 45 67 (рабочий)",
            "+79035551234",
            {"phone_note": "или 8 495 123 45 67 (рабочий)"},
            id="second-number-in-note",
        ),
        pytest.param("8 (912) 345-67-89", "+79123456789", {}, id="plain"),
        pytest.param("+7-912-345-67-89", "+79123456789", {}, id="plain-dashes"),
    ],
)
def test_a_phone_field_keeps_the_words(raw: str, phone: str, fields: dict[str, str]) -> None:
    read = read_phone_field(raw)
    assert read.phone == phone
    assert read.fields() == fields


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("12", id="too-short"),
        pytest.param("Ольга", id="words-only"),
        pytest.param("позвоните вечером", id="no-digits"),
        pytest.param("ИНН 9031234567", id="only-an-inn"),
    ],
)
def test_a_phone_field_without_a_number_is_refused(raw: str) -> None:
    with pytest.raises(InvalidIdentity):
        read_phone_field(raw)


@given(st.text(max_size=200))
def test_any_text_is_read_without_crashing(text: str) -> None:
    for found in find_phones(text):
        assert found.e164.startswith("+")
        assert 0 <= found.start < found.end <= len(text)


# --- Email: where the sender's phone is looked for ---------------------------------------


def _split(new: str = "", signature: str = "", forwarded: str = "") -> BodySplit:
    return BodySplit(new_text=new, signature=signature, forwarded=forwarded)


@pytest.mark.parametrize(
    ("split", "phone", "fields"),
    [
        pytest.param(
            _split("Мой номер 8 903 111 22 33", "Иван\nТел.: +7 912 345-67-89"),
            "+79123456789",
            {},
            id="signature-first",
        ),
        pytest.param(
            _split("Ivan\nИНН 7701234567\nТел.: +7 912 345-67-89"),
            "+79123456789",
            {},
            id="inn-skipped",
        ),
        pytest.param(
            _split(signature="Факс: +7 495 123-45-67\nмоб. 8 916 123 45 67"),
            "+79161234567",
            {},
            id="fax-skipped",
        ),
        pytest.param(
            _split("Прошу счёт.\nКонтактный телефон: 8 (495) 123-45-67 доб. 55"),
            "+74951234567",
            {"phone_ext": "55"},
            id="body-contact-line",
        ),
        pytest.param(_split("Тел.: 123-45"), None, {}, id="too-short"),
        pytest.param(
            _split(
                "Передаю, я на связи: +7 916 555-44-33",
                forwarded="---------- Forwarded message ---------\nFrom: A <a@x.ru>\n\n"
                "Телефон 8 903 222-33-44",
            ),
            "+79165554433",
            {},
            id="forwarder-before-forwarded",
        ),
        pytest.param(
            _split(
                "Передаю запрос клиента.",
                forwarded="---------- Forwarded message ---------\nFrom: A <a@x.ru>\n"
                "To: <me@acme.ru>\n\nТелефон 8 903 222-33-44",
            ),
            None,
            {"forwarded_phone": "+79032223344"},
            id="someone-elses-forward-is-kept-aside",
        ),
        pytest.param(
            _split(
                "Передаю запрос клиента.",
                forwarded="________________________________\nFrom: Peter Novak\n"
                "Sent: Monday\nTo: Me <me@acme.ru>\nSubject: Q\n\nCall +7 903 222-33-44",
            ),
            None,
            {"forwarded_phone": "+79032223344"},
            id="author-without-address-is-not-the-sender",
        ),
        pytest.param(
            _split(
                "Напоминаю.",
                forwarded='-------- Пересылаемое сообщение --------\n15.05.2024, "Me" <ME@acme.ru>:\n'
                "Нужен монтаж.\n\nС уважением,\nмоб. +7 926 111-22-33",
            ),
            "+79261112233",
            {},
            id="own-earlier-message",
        ),
    ],
)
def test_email_phone_search_order(
    split: BodySplit, phone: str | None, fields: dict[str, str]
) -> None:
    found = find_email_phone(split, sender_email="me@acme.ru")
    assert (found.phone, found.fields) == (phone, fields)


def test_a_raw_producer_phone_with_words_is_read_like_a_form_field() -> None:
    raw = make_inquiry(sender=Sender(phone="+7 903 555-12-34 (Telegram)"))
    fixed = renormalized(raw, "RU")
    assert fixed.sender.phone == "+79035551234"
    assert fixed.fields["phone_note"] == "Telegram"
    unusable = renormalized(make_inquiry(sender=Sender(phone="звонить вечером")), "RU")
    assert unusable.sender.phone is None
    assert unusable.fields["_invalid_phone"] == "звонить вечером"


@pytest.mark.parametrize(
    ("phone", "kept", "fields"),
    [
        pytest.param("+79035551234", "+79035551234", {}, id="valid-e164-as-is"),
        pytest.param("+12015550123", "+12015550123", {}, id="valid-foreign-e164"),
        pytest.param("+70000000000", None, {"_invalid_phone": "+70000000000"}, id="invalid-e164"),
        pytest.param("+7903555123", None, {"_invalid_phone": "+7903555123"}, id="too-short"),
    ],
)
def test_an_e164_phone_from_a_producer_is_checked_not_trusted(
    phone: str, kept: str | None, fields: dict[str, str]
) -> None:
    fixed = renormalized(make_inquiry(sender=Sender(phone=phone)), "RU")
    assert fixed.sender.phone == kept
    assert {k: v for k, v in fixed.fields.items() if k.startswith("_")} == fields


def test_a_long_letter_is_searched_at_its_start_and_its_end() -> None:
    filler = "Описание объекта, 120 м2, без номеров. " * 2_000
    split = _split(f"Добрый день!\n{filler}\nПётр Сергеев | тел. 8-921-100-20-30")
    assert len(split.new_text) > 2 * SEARCH_MAX
    assert find_email_phone(split, sender_email="p@x.ru").phone == "+79211002030"
