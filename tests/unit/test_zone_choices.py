"""The time-zone picker's choices: every zone the API accepts, each with its city in
the viewer's language, so "Москва" and "New York" find their zones."""

from __future__ import annotations

from console import zones
from ingest.contract.i18n import Catalogs
from ingest.hours import known_timezones


def test_every_known_zone_is_offered_with_its_city_in_the_viewer_s_language() -> None:
    catalogs = Catalogs.load()
    ru = dict(zones.choices(catalogs.get("ru").gettext))
    en = dict(zones.choices(catalogs.get("en").gettext))
    assert list(ru) == known_timezones()
    assert ru["Europe/Moscow"] == "Москва · Europe/Moscow"
    assert ru["Asia/Yekaterinburg"].startswith("Екатеринбург")
    assert en["America/New_York"] == "New York · America/New_York"
    assert en["America/Argentina/Buenos_Aires"] == "Buenos Aires · America/Argentina/Buenos_Aires"
    assert ru["UTC"] == "UTC · UTC"
