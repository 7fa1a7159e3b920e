# ruff: noqa: RUF001 - Russian labels: Cyrillic letters are intended.
"""Phone numbers in free text: the one finder every channel uses.

People write a phone with words around it ("+7 903 555-12-34 (Telegram)", "8 903 555
12 34 после обеда", "тел. 8-921-100-20-30"), with an extension ("доб. 123", "ext. 45",
"x45"), or beside numbers that only look like phones (an ИНН, an order number, an
amount). `find_phones` uses phonenumbers' `PhoneNumberMatcher` (leniency VALID, in the
configured default region) and then drops what the words around a number say is not a
phone. `read_phone_field` reads a field meant to hold a phone: the first number is the
phone, everything else the customer wrote is kept as a note. Pure functions; imports
nothing of ours but `identity`.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

import phonenumbers

from ingest.contract.identity import InvalidIdentity, normalize_phone

# Where the words around a phone and its extension are kept on the inquiry (its `fields`).
PHONE_NOTE_FIELD = "phone_note"
PHONE_EXTENSION_FIELD = "phone_ext"
# A phone is written among a person's own words; past this many characters a text is
# pasted documents, and the matcher's time grows with the digits it has to try.
SEARCH_MAX = 20_000
# How far before a number a label still speaks about it ("ИНН/КПП: 7701...").
_LABEL_WINDOW = 32
_NOTE_PUNCTUATION = " \t\r\n,;:|/-–—.!?"

# A field that holds a number and nothing else: "+7 (912) 345-67-89", "8-912-345-67-89".
_BARE_NUMBER = re.compile(r"\+?[\d \t().-]{7,40}")
# Words that say the number after them is not a phone to call back.
_NOT_A_PHONE = re.compile(
    r"\b(?:инн|кпп|огрн(?:ип)?|бик|окпо|оквэд|октмо|снилс|паспорт\w*|р/с|к/с|л/с|"
    r"сч[её]т\w*|заказ\w*|договор\w*|накладн\w*|трек\w*|артикул\w*|арт|факс\w*|fax|"
    r"inn|order|invoice|account|iban|swift|bic|contract|tracking|ref|sku)\b",
    re.IGNORECASE,
)
# "№ 89035551234" is an order or a document number, unless a phone label says otherwise.
_NUMBER_SIGN = re.compile(r"[№#]")
# Words that say it is a phone; the nearest label before a number wins.
_PHONE_LABEL = re.compile(
    r"\b(?:tel|phone|mob|mobile|cell|call|whatsapp|viber|telegram|тел|телефон\w*|моб\w*|"
    r"сот\w*|номер\w*)|звон",
    re.IGNORECASE,
)
# "Тел./факс:" numbers are phones too.
_PHONE_AND_FAX = re.compile(r"(?:тел|tel|phone)\.?\s*/\s*(?:факс|fax)", re.IGNORECASE)
# The label just before the number says nothing the field does not ("Контактный телефон:").
_LABEL_BEFORE = re.compile(
    r"(?:\bконтактный\s+)?\b(?:тел(?:ефон)?|моб(?:ильный)?|сот(?:овый)?|phone|tel|mobile|cell)"
    r"\b\.?\s*(?:[№#]\s*)?:?\s*$",
    re.IGNORECASE,
)
# A currency after the number makes it an amount.
_AMOUNT_AFTER = re.compile(r"^\s*(?:руб|р\.|₽|\$|€|usd|eur|rub|тыс|млн)", re.IGNORECASE)
# Extensions the matcher leaves out: in brackets, or "вн." (внутренний).
_EXTENSION_AFTER = re.compile(
    r"^\s*[,(\[]?\s*(?:доб(?:авочный)?|вн(?:утр(?:енний)?)?|ext(?:ension)?|x)\.?\s*:?\s*"
    r"(\d{1,6})\s*[)\]]?",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class FoundPhone:
    """One number in a text: E.164, its extension, and where it was written."""

    e164: str
    extension: str | None
    start: int
    end: int
    labelled: bool  # A phone label ("тел.", "mobile") stands just before it.


@dataclass(frozen=True, slots=True)
class PhoneField:
    """A field meant to hold a phone: the number and what else the customer wrote."""

    phone: str
    extension: str | None
    note: str | None

    def fields(self) -> dict[str, str]:
        """What the inquiry keeps beside the E.164 number: the note and the extension."""
        return phone_fields(self.extension, self.note)


def phone_fields(extension: str | None, note: str | None) -> dict[str, str]:
    """`{"phone_ext": "123", "phone_note": "после обеда"}`, leaving out what is empty."""
    pairs = ((PHONE_EXTENSION_FIELD, extension), (PHONE_NOTE_FIELD, note))
    return {name: value for name, value in pairs if value}


def find_phones(text: str, default_region: str = "RU") -> tuple[FoundPhone, ...]:
    """Every callable number in the first `SEARCH_MAX` characters of `text`, in order.

    A number is dropped when the nearest label before it on its line names something
    else (ИНН, заказ №, счёт, факс, order, invoice ...) or a currency follows it:
    such digits parse as valid numbers surprisingly often.
    """
    text = text[:SEARCH_MAX]
    found: list[FoundPhone] = []
    region = default_region.upper()
    for match in phonenumbers.PhoneNumberMatcher(text, region):
        before = _line_before(text, match.start)
        after = text[match.end :]
        if _labelled_as_other(before) or _AMOUNT_AFTER.match(after):
            continue
        extension = match.number.extension
        end = match.end
        if not extension and (more := _EXTENSION_AFTER.match(after)):
            extension, end = more.group(1), match.end + more.end()
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        labelled = bool(_PHONE_LABEL.search(before))
        found.append(FoundPhone(e164, extension or None, match.start, end, labelled))
    return tuple(found)


def first_phone(text: str, default_region: str = "RU") -> FoundPhone | None:
    """The number a reader would call: the first labelled one, else the first."""
    phones = find_phones(text, default_region)
    return next((p for p in phones if p.labelled), phones[0] if phones else None)


def read_phone_field(raw: str, default_region: str = "RU") -> PhoneField:
    """Read a field meant to hold a phone, as a customer filled it in.

    The first number is the phone; the rest of the text (words, other numbers) is
    the note, trimmed of the punctuation that held it to the number. Raises
    `InvalidIdentity` only when the field holds no valid number at all.
    """
    text = raw.strip()
    if _plain_number(text, default_region):
        # No words to search among: read it as one number (a third to a half of the
        # CPU of the search). What does not read so is searched as before.
        if (e164 := _russian_number(text, default_region)) is not None:
            return PhoneField(e164, None, None)
        with contextlib.suppress(InvalidIdentity):
            return PhoneField(normalize_phone(raw, default_region), None, None)
    return _search_phone_field(raw, default_region)


def _russian_number(text: str, region: str) -> str | None:
    """A Russian number written nationally (10 digits, or 11 after the 8 or 7 that
    `parse` strips), checked without `parse`: +7 and its digits when valid, else None."""
    if region.upper() != "RU" or text.startswith("+"):
        return None
    digits = "".join(ch for ch in text if ch.isdigit())
    national = digits[1:] if len(digits) == 11 else digits
    if len(national) != 10 or national[0] == "0":
        return None
    number = phonenumbers.PhoneNumber(country_code=7, national_number=int(national))
    return f"+7{national}" if phonenumbers.is_valid_number(number) else None


def _plain_number(text: str, region: str) -> bool:
    """Phone characters only, in a shape with one reading: international ("+44 20 7946
    0958"), or a Russian number of 10 digits or 11 after a 7 or 8. Elsewhere a lenient
    parse may read a different number than the search (a German "8 039 604381" is one
    number to `parse`, a note "8" and a number to the search)."""
    if not _BARE_NUMBER.fullmatch(text):
        return False
    if text.startswith("+"):
        return True
    digits = [ch for ch in text if ch.isdigit()]
    return region.upper() == "RU" and (
        len(digits) == 10 or (len(digits) == 11 and digits[0] in "78")
    )


def _search_phone_field(raw: str, default_region: str) -> PhoneField:
    phones = find_phones(raw, default_region)
    if not phones:
        if any(ch.isalpha() for ch in raw):
            raise InvalidIdentity(f"{raw.strip()!r} holds no valid phone number")
        # Bare digits the matcher is too strict for still count, as they always did.
        return PhoneField(normalize_phone(raw, default_region), None, None)
    first = phones[0]
    note = _note(_LABEL_BEFORE.sub("", raw[: first.start]) + " " + raw[first.end :])
    return PhoneField(first.e164, first.extension, note)


def _line_before(text: str, start: int) -> str:
    window = text[max(0, start - _LABEL_WINDOW) : start]
    return _PHONE_AND_FAX.sub("тел", window.rsplit("\n", 1)[-1])


def _labelled_as_other(before: str) -> bool:
    others = [m.start() for m in _NOT_A_PHONE.finditer(before)]
    phone_labels = [m.start() for m in _PHONE_LABEL.finditer(before)]
    if not phone_labels:
        return bool(others) or bool(_NUMBER_SIGN.search(before))
    return bool(others) and others[-1] > phone_labels[-1]


def _note(rest: str) -> str | None:
    text = " ".join(rest.replace("()", " ").split()).strip(_NOTE_PUNCTUATION)
    text = text.lstrip(")]").rstrip("([").strip(_NOTE_PUNCTUATION)
    if text.startswith("(") and text.endswith(")") and text.count("(") == 1:
        text = text[1:-1].strip()  # "(Telegram)" is a note in brackets.
    return text or None


__all__ = [
    "PHONE_EXTENSION_FIELD",
    "PHONE_NOTE_FIELD",
    "SEARCH_MAX",
    "FoundPhone",
    "InvalidIdentity",
    "PhoneField",
    "find_phones",
    "first_phone",
    "phone_fields",
    "read_phone_field",
]
