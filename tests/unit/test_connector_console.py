"""The connectors page's pure parts: forms generated from each kind's model, and the
health strip of hours in the viewer's zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from console.connector_forms import form_of, values_of
from console.health_strip import strip
from crm_store.connector_health import HealthHour
from ingest.contract.i18n import Catalogs
from leadflow.connector_kinds import CONNECTOR_KINDS

NOW = datetime(2026, 12, 2, 7, 40, tzinfo=UTC)


def test_every_kind_has_a_form_with_its_secrets_write_only() -> None:
    forms = {kind: form_of(kind, model) for kind, model in CONNECTOR_KINDS.items()}
    assert set(forms) == {"telegram", "whatsapp", "twilio", "phone_webhook", "imap"}
    imap = {f.name: f for f in forms["imap"].fields}
    assert [f.name for f in forms["imap"].secrets] == ["password"]
    assert imap["password"].widget == "password" and imap["password"].required
    assert (imap["port"].widget, imap["port"].minimum, imap["port"].maximum) == (
        "number",
        1,
        65535,
    )
    assert [code for code, _ in imap["security"].choices] == ["ssl", "starttls", "plain"]
    assert imap["idle"].widget == "checkbox" and imap["folder"].default == "INBOX"
    assert imap["host"].required and not imap["port"].required
    assert imap["poll_interval_s"].step == "any"
    telegram = {f.name for f in forms["telegram"].secrets}
    assert telegram == {"token", "webhook_secret"}
    assert values_of(forms["imap"], {"host": "mx"})["host"] == "mx"
    assert values_of(forms["imap"], {})["folder"] == "INBOX"


@pytest.mark.parametrize("kind", sorted(CONNECTOR_KINDS))
def test_labels_options_and_help_are_in_russian(kind: str) -> None:
    ru = Catalogs.load().get("ru")
    for field in form_of(kind, CONNECTOR_KINDS[kind]).fields:
        texts = [field.label, *(text for _, text in field.choices)]
        texts += [field.help] if field.help else []
        for text in texts:
            assert ru.gettext(text) != text, text


def hour(at: datetime, **counts: int) -> HealthHour:
    values = {"successes": 0, "errors": 0, "tests_ok": 0, "tests_failed": 0} | counts
    return HealthHour("c", at, last_error="boom" if counts.get("errors") else None, **values)


@pytest.mark.parametrize(
    ("zone", "first_label_hour"),
    [
        pytest.param("Europe/Moscow", 11, id="moscow"),  # 10:40 local now; 24 cells back
        pytest.param("America/New_York", 3, id="new-york"),  # 02:40 local now
        pytest.param("Asia/Kolkata", 14, id="half-hour-zone"),  # 13:10 local now
    ],
)
def test_the_strip_starts_on_the_viewers_hours(zone: str, first_label_hour: int) -> None:
    where = ZoneInfo(zone)
    s = strip(NOW, where, [], [])
    assert len(s.cells) == 24
    assert s.cells[0].start.hour == first_label_hour and s.cells[0].start.minute == 0
    assert s.cells[-1].start <= NOW < s.cells[-1].start + timedelta(hours=1)


def test_cells_count_inquiries_and_colour_by_outcome() -> None:
    moscow = ZoneInfo("Europe/Moscow")
    current = NOW.replace(minute=0)
    s = strip(
        NOW,
        moscow,
        [
            hour(current, errors=2),
            hour(current - timedelta(hours=2), successes=5),
            hour(current - timedelta(hours=5), tests_failed=1),
            hour(current - timedelta(hours=40), errors=9),  # older than the day: left out
        ],
        [NOW - timedelta(minutes=5)] * 3 + [NOW - timedelta(hours=2)] + [NOW - timedelta(days=3)],
    )
    states = [c.state for c in s.cells]
    assert states[-1] == "error" and s.cells[-1].last_error == "boom"
    assert states[-3] == "ok" and states[-6] == "error"
    assert states.count("idle") == 21
    assert (s.cells[-1].inquiries, s.cells[-1].height, s.cells[-3].height) == (3, 100, 33)
    assert (s.inquiries, s.errors) == (4, 2)
