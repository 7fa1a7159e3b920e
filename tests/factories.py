"""Plain factory functions with defaults; override what a test cares about."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from connectors.webform import FormConfig, FormField
from ingest.contract import Channel, Inquiry, Routing, Sender, new_inquiry_id
from ingest.decisions import Snapshot, TeamView

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def make_inquiry(**overrides: Any) -> Inquiry:
    values: dict[str, Any] = {
        "id": new_inquiry_id(),
        "idempotency_key": f"test:{uuid.uuid4()}",
        "channel": Channel.WEB_FORM,
        "received_at": NOW,
        "sender": Sender(name="Ivan Petrov", email="ivan@example.com", phone="+79123456789"),
        "text": "Need 20 licenses",
        "routing": Routing(team="Sales", form="contact"),
    }
    values.update(overrides)
    return Inquiry(**values)


def make_team(**overrides: Any) -> TeamView:
    values: dict[str, Any] = {
        "id": 1,
        "name": "Sales",
        "member_ids": (1, 2, 3),
        "last_user_id": None,
        "member_names": {1: "Ivanova", 2: "Petrov", 3: "Sidorov"},
    }
    values.update(overrides)
    return TeamView(**values)


def make_snapshot(**overrides: Any) -> Snapshot:
    values: dict[str, Any] = {"contacts": {}, "teams": {"Sales": make_team()}}
    values.update(overrides)
    return Snapshot(**values)


def make_form(**overrides: Any) -> FormConfig:
    values: dict[str, Any] = {
        "slug": "contact",
        "name": "Contact us",
        "team": "Sales",
        "fields": (
            FormField("name", "Name", "name"),
            FormField("email", "Email", "email", kind="email"),
            FormField("phone", "Phone", "phone", kind="tel"),
            FormField("message", "Message", "message", kind="textarea"),
        ),
        "honeypot_field": "website",
        "allowed_origins": ("https://shop.example.com",),
    }
    values.update(overrides)
    return FormConfig(**values)
