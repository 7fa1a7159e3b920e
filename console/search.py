"""Search endpoint: `GET /api/v1/search?q=` across leads, contacts and companies.

`read_terms` is the pure part: it reads the typed query into the store's
`SearchTerms`, with the phone it may be in E.164 (`ingest.contract.phones`, in the
deployment's region: "8 (903) 555-12-34" is +79035551234) and its digits for a match
on a number's tail ("555-12-34"). The store does the scoped matching
(`crm_store.search`). Imports `crm_store`, `console` helpers and `ingest.contract`.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from console.http import Call, Endpoint, collect, route
from console.schemas import Strict, clean_line
from crm_store.database import Database
from crm_store.search import SearchResults, SearchTerms, search
from ingest.contract.identity import InvalidIdentity, normalize_phone
from ingest.contract.phones import first_phone

MIN_QUERY, MAX_QUERY = 2, 200
# Two characters that are neither blank nor control, so that what the schema accepts
# is still two characters once cleaned (the fuzzer's valid input is never a 422).
_TWO_SEEN = r"[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f]"
# What a phone is written with; a query of only these is read as (part of) a number.
_PHONE_CHARS = re.compile(r"^[\d\s+().\-]+$")


def _long_enough(value: str) -> str:
    if len(value) < MIN_QUERY:
        raise ValueError(f"must be at least {MIN_QUERY} characters")
    return value


Query = Annotated[
    str,
    StringConstraints(min_length=MIN_QUERY, max_length=MAX_QUERY, pattern=_TWO_SEEN),
    AfterValidator(clean_line),
    AfterValidator(_long_enough),
]


class SearchQuery(Strict):
    q: Query = Field(
        description="A name, email, phone in any format, company, or words a lead's inquiries hold."
    )


def read_terms(text: str, region: str = "RU") -> SearchTerms:
    """The query as the store matches it: the text, and the phone it may be."""
    found = first_phone(text, region)
    phone = found.e164 if found else _as_phone(text, region)
    typed = "".join(ch for ch in text if ch.isdigit()) if _PHONE_CHARS.match(text) else ""
    # A trunk prefix ("8 903...") is not in the stored number: match the E.164 digits.
    digits = phone.removeprefix("+") if phone else typed
    return SearchTerms(text=text, phone=phone, digits=digits or None)


def _as_phone(text: str, region: str) -> str | None:
    if not _PHONE_CHARS.match(text):
        return None
    try:
        return normalize_phone(text, region)
    except InvalidIdentity:
        return None


class SearchEndpoints:
    def __init__(self, db: Database, *, region: str = "RU") -> None:
        self._db = db
        self._region = region

    def endpoints(self) -> list[Endpoint]:
        return collect(self, tag="search")

    @route(
        "GET",
        "/api/v1/search",
        "Leads, contacts and companies matching a name, email, phone, company or text",
        query=SearchQuery,
        response=SearchResults,
    )
    async def find(self, call: Call) -> SearchResults:
        terms = read_terms(call.query_as(SearchQuery).q, self._region)
        async with self._db.sessions() as session:
            return await search(session, call.who, terms)
