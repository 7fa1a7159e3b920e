"""The time-zone picker's choices: every zone `ingest.hours` accepts, each labelled
with its city in the viewer's language, so an admin finds "Москва" or "Moscow" as
well as "Europe/Moscow". Pure: no I/O beyond the zoneinfo list. Imports
`ingest.hours` and `ingest.contract.i18n`.
"""

from __future__ import annotations

from collections.abc import Callable

from ingest.contract.i18n import N_
from ingest.hours import known_timezones

# The cities people in Russia and around it look for by name; elsewhere the zone's own
# last part ("New_York" → "New York") is the city, as its users write it in English.
CITY_NAMES = {
    "Europe/Moscow": N_("Moscow"),
    "Europe/Kaliningrad": N_("Kaliningrad"),
    "Europe/Samara": N_("Samara"),
    "Europe/Volgograd": N_("Volgograd"),
    "Asia/Yekaterinburg": N_("Yekaterinburg"),
    "Asia/Omsk": N_("Omsk"),
    "Asia/Novosibirsk": N_("Novosibirsk"),
    "Asia/Krasnoyarsk": N_("Krasnoyarsk"),
    "Asia/Irkutsk": N_("Irkutsk"),
    "Asia/Yakutsk": N_("Yakutsk"),
    "Asia/Vladivostok": N_("Vladivostok"),
    "Asia/Magadan": N_("Magadan"),
    "Asia/Kamchatka": N_("Petropavlovsk-Kamchatsky"),
    "Europe/Minsk": N_("Minsk"),
    "Asia/Almaty": N_("Almaty"),
    "Asia/Tashkent": N_("Tashkent"),
    "Europe/Istanbul": N_("Istanbul"),
    "Asia/Dubai": N_("Dubai"),
    "Europe/London": N_("London"),
    "Europe/Berlin": N_("Berlin"),
    "America/New_York": N_("New York"),
}


def city(zone: str) -> str:
    """The English name of the zone's city (a catalog message id where we have one)."""
    return CITY_NAMES.get(zone) or zone.rsplit("/", 1)[-1].replace("_", " ")


def choices(gettext: Callable[[str], str]) -> list[tuple[str, str]]:
    """(zone, label) for every known zone, the label in the language of `gettext`."""
    return [(zone, f"{gettext(city(zone))} · {zone}") for zone in known_timezones()]
