"""Identity normalization shared by every channel: email, phone, partition key.

Pure functions only, cached: the same address arrives at the edge and again in the
consumer, and validating one costs tens of microseconds. The contract package
imports nothing else of ours, so any connector can normalize a sender the same way
the consumer matches one.
"""

from __future__ import annotations

import functools
import hashlib
import re

import phonenumbers
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

# An address already in the form `normalize_email` returns, and valid by every rule
# of email_validator: lower-case ASCII, a dot-atom local part of common characters,
# host labels without "--" under a top-level domain of letters. Anything else (an
# upper-case letter, a quoted or internationalized part) takes the full validation.
_PLAIN_EMAIL = re.compile(
    r"(?P<local>[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*)"
    r"@(?P<domain>(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63})"
)
_RESERVED_DOMAINS = tuple(d for d in SPECIAL_USE_DOMAIN_NAMES if d != "test")
# "." + domain ends with "." + d exactly when domain is d or ends with "." + d: one
# `str.endswith` in C instead of a Python loop over the list (issue 11).
_RESERVED_SUFFIXES = tuple("." + d for d in _RESERVED_DOMAINS)
# What `normalize_phone` returns is "+" and digits, mostly within E.164's 15.
_PLUS_DIGITS = re.compile(r"\+\d+")
_E164 = re.compile(r"\+[1-9]\d{6,14}")


class InvalidIdentity(ValueError):
    """A value that cannot be an email address or a phone number."""


@functools.lru_cache(maxsize=65_536)
def normalize_email(raw: str) -> str:
    """Lower-case the address and turn an internationalized domain into IDNA.

    Raises `InvalidIdentity` with a readable sentence when it is not an address.
    """
    candidate = raw.strip()
    if _already_normal(candidate):
        # What every connector of ours sends; the consumer reads each sender again.
        return candidate
    try:
        result = validate_email(candidate, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise InvalidIdentity(f"{candidate!r} is not a valid email address: {exc}") from exc
    local = result.local_part.lower()
    domain = result.ascii_domain.lower()
    return f"{local}@{domain}"


def _already_normal(address: str) -> bool:
    found = _PLAIN_EMAIL.fullmatch(address)
    if found is None or len(address) > 254 or len(found["local"]) > 64:
        return False
    domain = found["domain"]
    return "--" not in domain and not ("." + domain).endswith(_RESERVED_SUFFIXES)


@functools.lru_cache(maxsize=65_536)
def normalize_phone(raw: str, default_region: str = "RU") -> str:
    """Return the number in E.164 (`+79123456789`).

    A number written without a country code is read in `default_region`; a Russian
    trunk prefix 8 and a bare 7-prefixed number both resolve to +7.
    """
    candidate = raw.strip()
    digits = "".join(ch for ch in candidate if ch.isdigit())
    if not candidate.startswith("+") and len(digits) == 11 and digits[0] == "7":
        # "79123456789" is how many Russian forms and PBXs write +7 numbers.
        candidate = "+" + digits
    try:
        number = phonenumbers.parse(candidate, default_region.upper())
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentity(f"{raw!r} is not a phone number: {exc}") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentity(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@functools.lru_cache(maxsize=65_536)
def is_canonical_phone(raw: str, default_region: str = "RU") -> bool:
    """Whether `normalize_phone(raw, default_region)` returns `raw` itself (False when it
    raises), without phonenumbers' `parse`.

    What every connector of ours sends is such a number, and the consumer checks each
    sender again (issue 11): parsing costs about twice the validity test. A number in
    E.164 parses to its country code (the shortest prefix that is one, as `parse`
    takes it) and the digits after it, unless a national prefix could be stripped
    from those digits or they start with 0; those cases, and whatever is not in
    E.164, take `normalize_phone` itself. `tests/unit/test_canonical_phone.py`
    compares the two over seeded sweeps.
    """
    if _PLUS_DIGITS.fullmatch(raw) is None:
        return False  # never what `normalize_phone` returns
    if _E164.fullmatch(raw) is None:
        return _normalizes_to_itself(raw, default_region)
    digits = raw[1:]
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return False  # `parse` refuses a number whose country code is none
    national = digits[size:]
    prefixes = _national_prefixes(code)
    if (
        prefixes is None
        or national.startswith("0")
        or any(prefix.match(national) for prefix in prefixes)
    ):
        return _normalizes_to_itself(raw, default_region)
    number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
    return phonenumbers.is_valid_number(number)


@functools.cache  # a few hundred calling codes; their metadata never changes
def _national_prefixes(code: int) -> tuple[re.Pattern[str], ...] | None:
    """A calling code's `national_prefix_for_parsing` and `national_prefix`, compiled
    as `re.match` would (None: no metadata for the code)."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
        code, phonenumbers.region_code_for_country_code(code)
    )
    if metadata is None:
        return None
    prefixes = (metadata.national_prefix_for_parsing, metadata.national_prefix)
    return tuple(re.compile(prefix) for prefix in prefixes if prefix)


def _normalizes_to_itself(raw: str, default_region: str) -> bool:
    try:
        return normalize_phone(raw, default_region) == raw
    except InvalidIdentity:
        return False


def identity_key(*, email: str | None, phone: str | None, channel: str, user_id: str | None) -> str:
    """The Kafka partition key: a stable hash of the sender's strongest identity.

    Strongest first: normalized email, then E.164 phone, then channel + user id.
    An anonymous sender hashes to the channel alone.
    """
    if email:
        basis = f"email:{email}"
    elif phone:
        basis = f"phone:{phone}"
    elif user_id:
        basis = f"{channel}:{user_id}"
    else:
        basis = f"{channel}:anonymous"
    return hashlib.sha256(basis.encode()).hexdigest()[:32]
