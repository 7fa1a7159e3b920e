"""Column types that behave the same on SQLite and PostgreSQL.

SQLite hands back naive datetimes even for `DateTime(timezone=True)`; this is the
one place where UTC is re-attached, so the rest of the code only sees aware times.
`EncodedJSON` is a JSON column value already encoded (pydantic's `model_dump_json`),
which `json_serializer` (the engines' serializer) writes as it is instead of
encoding a dict made from the model a second time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic_core import PydanticSerializationError, to_json
from sqlalchemy import DateTime, Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # Nearly every value is already in UTC (the callers' clocks, the contract's
        # validators), and then `astimezone(UTC)` would return it as it is: skipping
        # the call saves a little per value on every write (issue 11).
        if value.tzinfo is not UTC:
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # Stored naive so that text comparison in SQLite orders correctly.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class EncodedJSON(str):
    """A JSON document already encoded, for a JSON column (read back as the decoded value)."""

    __slots__ = ()


def json_serializer(value: Any) -> str:
    """The engines' JSON serializer: `compact_json`, except that an `EncodedJSON` is
    written as it is (the inquiry payload, encoded once by pydantic)."""
    if type(value) is EncodedJSON:
        return str.__str__(value)
    return compact_json(value)


def compact_json(value: Any) -> str:
    """`value` as compact JSON (no spaces), non-ASCII characters as they are.

    pydantic-core's encoder, in Rust and already a dependency, takes a third of
    `json.dumps`'s time on a lead's documents (issue 11). A text holding a lone
    surrogate (a peer's JSON may escape one, `"\\udfff"`) has no UTF-8 form, so that
    document is written by `json.dumps`, every non-ASCII character escaped.
    """
    try:
        return to_json(value).decode()
    except PydanticSerializationError:
        return json.dumps(value, separators=(",", ":"))
