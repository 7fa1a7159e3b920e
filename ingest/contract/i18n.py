"""Translated text for the pages and messages people read: gettext catalogs via Babel.

The catalogs live beside this module, in `locales/`: `messages.pot` (extracted from
the code and templates with `make messages`) and one `<lang>/LC_MESSAGES/messages.po`
per language. The `.po` files are compiled in memory when `Catalogs.load` runs, so
there is no `.mo` file to build, commit or forget: what is in the `.po` is what is
shown. English is the source language (its catalog may leave a string empty: the
source is then shown). `choose` picks a language: the setting of the thing being
shown (a form's language), else the best match of `Accept-Language`, else the
default. `localized_environments` gives one Jinja2 environment per language with
`_`/`gettext`/`ngettext` installed and autoescape on. `format_moment` writes a
moment as a reader of a language does, in their zone (the console, the notices).
Imports nothing of ours.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from gettext import NullTranslations
from pathlib import Path

import jinja2
from babel.core import Locale, UnknownLocaleError, negotiate_locale
from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES = Path(__file__).parent / "locales"
DOMAIN = "messages"
LANGUAGES = ("en", "ru")
DEFAULT_LANGUAGE = "en"
_ACCEPT_MAX = 20  # ranges read from one Accept-Language header


def N_(message: str) -> str:  # noqa: N802 (the gettext convention extractors know)
    """Marks a string for extraction where it is defined; it is translated where shown."""
    return message


def NP_(singular: str, plural: str) -> tuple[str, str]:  # noqa: N802 (like N_)
    """Marks a plural pair for extraction; `ngettext` translates it where shown."""
    return singular, plural


class MessageError(ValueError):
    """A validator's refusal as a message marked with `N_` and its `%(name)s` parameters.

    Its str is the English sentence; a page or an API answer in another language
    translates `message` and fills in `params` (pydantic keeps the exception in the
    error's `ctx`, so the console finds it there).
    """

    def __init__(self, message: str, **params: object) -> None:
        self.message, self.params = message, params
        super().__init__(message % params if params else message)


def locale_of(language: str) -> Locale:
    """Babel's locale for a language tag ("ru", "en-GB"); English when unknown."""
    try:
        return Locale.parse(language.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale("en")


def format_moment(value: datetime, where: tzinfo, language: str) -> str:
    """The moment in `where`, as `language` writes it, with the zone's abbreviation:
    `Dec 2, 2026, 5:00 AM EST` (CLDR medium date, short time)."""
    # Shown to the minute, so the minute is the key: the notices of a batch name a
    # handful of minutes (their deadlines), and Babel takes ~10 µs a call.
    return _format_minute(value.replace(second=0, microsecond=0), where, language)


@functools.lru_cache(maxsize=4096)
def _format_minute(value: datetime, where: tzinfo, language: str) -> str:
    local = value.astimezone(where)
    loc = locale_of(language)
    pattern = str(loc.datetime_formats["medium"])
    shown = pattern.replace("{1}", format_date(local, "medium", locale=loc)).replace(
        "{0}", format_time(local, "short", locale=loc)
    )
    return f"{shown} {local.tzname() or ''}".rstrip()


def compile_po(path: Path, language: str) -> Translations:
    """The `.po` file at `path` as gettext translations (fuzzy entries left out)."""
    with path.open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    mo = io.BytesIO()
    write_mo(mo, catalog, use_fuzzy=False)
    mo.seek(0)
    return Translations(fp=mo, domain=DOMAIN)


def accepted_languages(header: str | None) -> list[str]:
    """Language ranges of an Accept-Language header, most wanted first; q=0 left out."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((header or "").split(",")[:_ACCEPT_MAX]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag.strip() and tag.strip() != "*" and quality > 0:
            ranked.append((-quality, position, tag.strip().replace("_", "-")))
    return [tag for _, _, tag in sorted(ranked)]


@dataclass(frozen=True, slots=True)
class Catalogs:
    """The compiled catalog of every language, and the rule that picks one."""

    translations: Mapping[str, NullTranslations]
    default: str = DEFAULT_LANGUAGE

    @classmethod
    def load(cls, directory: Path = LOCALES, default: str = DEFAULT_LANGUAGE) -> Catalogs:
        found = {
            language: compile_po(directory / language / "LC_MESSAGES" / f"{DOMAIN}.po", language)
            for language in LANGUAGES
        }
        return cls(found, default)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.translations)

    def get(self, language: str) -> NullTranslations:
        return self.translations.get(language) or self.translations[self.default]

    def choose(self, setting: str | None, accept_language: str | None) -> str:
        """`setting` when it is a language we have, else Accept-Language, else the default."""
        return self.match(setting, accept_language) or self.default

    def match(self, setting: str | None, accept_language: str | None) -> str | None:
        """`setting` when it is a language we have, else Accept-Language's best match we
        have, else None (the caller's own fallback)."""
        if setting is not None and setting in self.translations:
            return setting
        best = negotiate_locale(accepted_languages(accept_language), self.languages, sep="-")
        return best if best is not None and best in self.translations else None


def localized_environments(
    loader: jinja2.BaseLoader, catalogs: Catalogs
) -> dict[str, jinja2.Environment]:
    """One autoescaping Jinja2 environment per language, its catalog installed.

    One environment per language (not one swapped per request) keeps rendering free
    of shared mutable state.
    """
    environments: dict[str, jinja2.Environment] = {}
    for language in catalogs.languages:
        env = jinja2.Environment(loader=loader, autoescape=True, extensions=["jinja2.ext.i18n"])
        env.install_gettext_translations(catalogs.get(language), newstyle=True)  # type: ignore[attr-defined]
        env.globals["language"] = language
        environments[language] = env
    return environments
