"""Checks of the time zones and working hours that people type (API, UI, TOML).

One place says what a usable setting is, so the console refuses with a sentence what
`ingest.worktime` could not use later: a zone that `zoneinfo` does not know
(`Europe/Moskow`), a time outside 00:00-24:00, a span that ends before it starts,
spans of one day that overlap, an unknown weekday. Pure: no I/O beyond reading the
zoneinfo database once, no clock. Imports `ingest.worktime`, whose parser it shares, and
`ingest.contract.i18n` (its sentences are translated where shown).
"""

from __future__ import annotations

import itertools
import zoneinfo
from collections.abc import Mapping, Sequence
from functools import lru_cache

from ingest.contract.i18n import N_, MessageError
from ingest.worktime import parse_hhmm

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    # "localtime" and "posixrules" are files of this machine, not zones people mean.
    return (frozenset(zoneinfo.available_timezones()) - {"localtime", "posixrules"}) | {"UTC"}


def known_timezones() -> list[str]:
    """Every zone `check_timezone` accepts, sorted (for pickers in the UI)."""
    return sorted(_zones())


def check_timezone(name: str) -> str:
    """`name` when it is an IANA zone that zoneinfo knows; else `ValueError` saying so."""
    if name not in _zones():
        raise MessageError(
            N_(
                "%(name)s is not a time zone this server knows; use an IANA name such as "
                "'Europe/Moscow' or 'UTC'."
            ),
            name=repr(name),
        )
    return name


def check_hours(
    spec: Mapping[str, Sequence[Sequence[str]]],
) -> dict[str, list[tuple[str, str]]]:
    """`spec` as {weekday: [(start, end), ...]} when every span is usable.

    Raises `ValueError` with a sentence naming the first day and span that is not.
    """
    checked: dict[str, list[tuple[str, str]]] = {}
    for day, spans in spec.items():
        if day not in WEEKDAYS:
            raise MessageError(
                N_("%(day)s is not a weekday; use one of %(days)s."),
                day=repr(day),
                days=", ".join(WEEKDAYS),
            )
        parsed: list[tuple[int, int, str, str]] = []
        for span in spans:
            if len(span) != 2:
                raise MessageError(
                    N_("%(day)s: a span is [start, end], not %(span)s."),
                    day=day,
                    span=repr(list(span)),
                )
            start_text, end_text = span[0], span[1]
            start, end = parse_hhmm(start_text), parse_hhmm(end_text)
            if start >= end:
                raise MessageError(
                    N_("%(day)s: %(span)s must start before it ends."),
                    day=day,
                    span=f"{start_text}-{end_text}",
                )
            parsed.append((start, end, start_text, end_text))
        parsed.sort()
        for before, after in itertools.pairwise(parsed):
            if after[0] < before[1]:
                raise MessageError(
                    N_("%(day)s: %(first)s and %(second)s overlap."),
                    day=day,
                    first=f"{before[2]}-{before[3]}",
                    second=f"{after[2]}-{after[3]}",
                )
        checked[day] = [(p[2], p[3]) for p in parsed]
    return checked


def full_week(
    spec: Mapping[str, Sequence[tuple[str, str]]],
) -> dict[str, list[tuple[str, str]]]:
    """`spec` with every weekday present, a missing one as [] (a day off).

    Stored hours then say outright which days are off: `{}` (what the grid used to
    send for "every day off") would otherwise look like "no hours set" to a reader
    that treats an empty mapping as unset. None, not a mapping, means "always".
    """
    return {day: list(spec.get(day, ())) for day in WEEKDAYS}
