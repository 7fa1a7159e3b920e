"""Channel connectors an admin configured (bots, WhatsApp apps, phone providers ...).

One `connector_config` row per connector: its `kind`, a unique `name`, the team
that gets its leads, plain `settings` JSON, and `secrets` as an opaque string (the
caller encrypts and decrypts it; the store never sees clear secrets), plus the
health the connector last reported. Queries return plain dataclasses. Imports
nothing of ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store import connector_health
from crm_store.models import ConnectorConfig, Team

_ERROR_LIMIT = 2000


class ConnectorConflict(ValueError):
    """The name is taken by a connector of another kind, or the team does not exist."""


@dataclass(frozen=True, slots=True)
class ConnectorRow:
    kind: str
    name: str
    team: str | None
    settings: dict[str, Any]
    secrets: str | None
    active: bool
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    updated_at: datetime


async def upsert_connector(
    session: AsyncSession,
    *,
    kind: str,
    name: str,
    team: str | None,
    settings: dict[str, Any],
    secrets: str | None,
    now: datetime,
    active: bool = True,
) -> None:
    """Create or replace the connector `name`; its health columns are kept."""
    team_id = await _team_id(session, team)
    row = await session.scalar(select(ConnectorConfig).where(ConnectorConfig.name == name))
    if row is None:
        row = ConnectorConfig(kind=kind, name=name, created_at=now)
        session.add(row)
    elif row.kind != kind:
        raise ConnectorConflict(f"the connector name {name!r} is already used by a {row.kind}")
    changed = (row.team_id, row.settings, row.secrets, row.active) != (
        team_id,
        settings,
        secrets,
        active,
    )
    if changed or row.updated_at is None:
        row.team_id, row.settings, row.secrets, row.active = team_id, settings, secrets, active
        row.updated_at = now
    await session.flush()


async def _team_id(session: AsyncSession, team: str | None) -> int | None:
    if team is None:
        return None
    team_id = await session.scalar(select(Team.id).where(Team.name == team))
    if team_id is None:
        raise ConnectorConflict(f"there is no team called {team!r}")
    return int(team_id)


async def list_connectors(
    session: AsyncSession, *, kinds: Sequence[str] | None = None, active_only: bool = True
) -> list[ConnectorRow]:
    query = select(ConnectorConfig, Team.name).outerjoin(Team, Team.id == ConnectorConfig.team_id)
    if kinds is not None:
        query = query.where(ConnectorConfig.kind.in_(list(kinds)))
    if active_only:
        query = query.where(ConnectorConfig.active.is_(True))
    rows = await session.execute(query.order_by(ConnectorConfig.kind, ConnectorConfig.name))
    return [
        ConnectorRow(
            kind=c.kind,
            name=c.name,
            team=team,
            settings=dict(c.settings or {}),
            secrets=c.secrets,
            active=c.active,
            last_success_at=c.last_success_at,
            last_error=c.last_error,
            last_error_at=c.last_error_at,
            updated_at=c.updated_at,
        )
        for c, team in rows
    ]


async def record_health(
    session: AsyncSession,
    name: str,
    *,
    success_at: datetime | None = None,
    error: str | None = None,
    error_at: datetime | None = None,
) -> None:
    """Note a success (`success_at`) and/or a failure (`error` at `error_at`)."""
    values: dict[str, Any] = {}
    if success_at is not None:
        values["last_success_at"] = success_at
    if error is not None:
        if error_at is None:
            raise ValueError("an error needs its error_at time")
        values["last_error"] = error[:_ERROR_LIMIT]
        values["last_error_at"] = error_at
    if values:
        await session.execute(
            update(ConnectorConfig).where(ConnectorConfig.name == name).values(**values)
        )
    # The same report, by the hour, for the console's health strip.
    if success_at is not None:
        await connector_health.note(session, name, success_at, success=True)
    if error is not None and error_at is not None:
        await connector_health.note(session, name, error_at, error=error)
