"""What admins configure besides people: forms, connectors, routing rules, rule
settings (SLA minutes per channel, spam thresholds) and the spam blocklist.

Views are pydantic models; connector secrets stay the opaque string the caller
encrypted (this module never sees clear secrets). Unknown ids raise
`people.NotFound`, conflicts `people.PeopleError`. Imports nothing of ours outside
`crm_store`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_store.models import (
    BlocklistEntry,
    ConnectorConfig,
    FormDefinition,
    RoutingRule,
    RuleSetting,
    Team,
)
from crm_store.people import NotFound, PeopleError


class FormView(BaseModel):
    id: int
    slug: str
    name: str
    team: str | None
    fields: list[dict[str, Any]]
    honeypot_field: str | None
    allowed_origins: list[str]
    redirect_url: str | None
    language: str | None = None
    active: bool
    updated_at: datetime


class RoutingRuleView(BaseModel):
    id: int
    priority: int
    team_id: int
    channel: str | None
    form: str | None
    connector: str | None
    language: str | None
    phone_country: str | None
    phone_region_prefix: str | None
    utm_source: str | None
    utm_campaign: str | None
    active: bool


class BlocklistView(BaseModel):
    id: int
    kind: str
    value: str
    created_at: datetime


async def _team_id(session: AsyncSession, team: str | None) -> int | None:
    if not team:
        return None
    team_id = await session.scalar(select(Team.id).where(Team.name == team))
    if team_id is None:
        raise PeopleError(f"There is no team called {team!r}.")
    return int(team_id)


async def list_forms(session: AsyncSession) -> list[FormView]:
    rows = await session.execute(
        select(FormDefinition, Team.name)
        .outerjoin(Team, Team.id == FormDefinition.team_id)
        .order_by(FormDefinition.slug)
    )
    return [_form_view(f, team) for f, team in rows]


def _form_view(f: FormDefinition, team: str | None) -> FormView:
    return FormView(
        id=f.id,
        slug=f.slug,
        name=f.name,
        team=team,
        fields=list(f.fields),
        honeypot_field=f.honeypot_field,
        allowed_origins=list(f.allowed_origins),
        redirect_url=f.redirect_url,
        language=f.language,
        active=f.active,
        updated_at=f.updated_at,
    )


async def get_form(session: AsyncSession, slug: str) -> FormView:
    for form in await list_forms(session):
        if form.slug == slug:
            return form
    raise NotFound("There is no form with this slug.")


async def save_form(
    session: AsyncSession, slug: str, *, values: dict[str, Any], create: bool, now: datetime
) -> FormView:
    """Create (`create`) or change the form `slug`; `values` may name a `team`."""
    form = await session.scalar(select(FormDefinition).where(FormDefinition.slug == slug))
    if create and form is not None:
        raise PeopleError(f"A form with the slug {slug!r} exists already.")
    if not create and form is None:
        raise NotFound("There is no form with this slug.")
    values = dict(values)
    # Resolve the team before a new form joins the session: the lookup autoflushes,
    # and a form without its name yet would fail NOT NULL (every create with a team did).
    has_team = "team" in values
    team_id = await _team_id(session, values.pop("team")) if has_team else None
    if form is None:
        form = FormDefinition(slug=slug, created_at=now, fields=[], allowed_origins=[])
        session.add(form)
    if has_team:
        form.team_id = team_id
    for key, value in values.items():
        setattr(form, key, value)
    form.updated_at = now
    await session.flush()
    return await get_form(session, slug)


async def delete_form(session: AsyncSession, slug: str) -> None:
    result = await session.execute(delete(FormDefinition).where(FormDefinition.slug == slug))
    if not getattr(result, "rowcount", 0):
        raise NotFound("There is no form with this slug.")


async def connector_secrets(session: AsyncSession, name: str) -> tuple[str, str | None]:
    """(kind, encrypted secrets) of the connector `name`."""
    row = (
        await session.execute(
            select(ConnectorConfig.kind, ConnectorConfig.secrets).where(
                ConnectorConfig.name == name
            )
        )
    ).first()
    if row is None:
        raise NotFound("There is no connector with this name.")
    return row[0], row[1]


async def delete_connector(session: AsyncSession, name: str) -> None:
    result = await session.execute(delete(ConnectorConfig).where(ConnectorConfig.name == name))
    if not getattr(result, "rowcount", 0):
        raise NotFound("There is no connector with this name.")


def _rule_view(r: RoutingRule) -> RoutingRuleView:
    return RoutingRuleView.model_validate(r, from_attributes=True)


async def list_routing_rules(session: AsyncSession) -> list[RoutingRuleView]:
    stmt = select(RoutingRule).order_by(RoutingRule.priority, RoutingRule.id)
    return [_rule_view(r) for r in await session.scalars(stmt)]


async def save_routing_rule(
    session: AsyncSession, rule_id: int | None, *, values: dict[str, Any], now: datetime
) -> RoutingRuleView:
    if "team_id" in values and await session.get(Team, values["team_id"]) is None:
        raise PeopleError("team_id names no team.")
    if rule_id is None:
        rule = RoutingRule(created_at=now)
        session.add(rule)
    else:
        found = await session.get(RoutingRule, rule_id)
        if found is None:
            raise NotFound("There is no routing rule with this id.")
        rule = found
    for key, value in values.items():
        setattr(rule, key, value)
    await session.flush()
    return _rule_view(rule)


async def delete_routing_rule(session: AsyncSession, rule_id: int) -> None:
    result = await session.execute(delete(RoutingRule).where(RoutingRule.id == rule_id))
    if not getattr(result, "rowcount", 0):
        raise NotFound("There is no routing rule with this id.")


async def rule_settings(session: AsyncSession) -> dict[str, dict[str, Any]]:
    return {r.key: dict(r.value) for r in await session.scalars(select(RuleSetting))}


async def put_rule_setting(
    session: AsyncSession, key: str, value: dict[str, Any], now: datetime
) -> None:
    row = await session.get(RuleSetting, key)
    if row is None:
        session.add(RuleSetting(key=key, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now
    await session.flush()


async def list_blocklist(session: AsyncSession) -> list[BlocklistView]:
    stmt = select(BlocklistEntry).order_by(BlocklistEntry.kind, BlocklistEntry.value)
    return [
        BlocklistView(id=b.id, kind=b.kind, value=b.value, created_at=b.created_at)
        for b in await session.scalars(stmt)
    ]


async def add_blocklist(
    session: AsyncSession, *, kind: str, value: str, now: datetime
) -> BlocklistView:
    clash = await session.scalar(
        select(BlocklistEntry.id).where(BlocklistEntry.kind == kind, BlocklistEntry.value == value)
    )
    if clash is not None:
        raise PeopleError(f"{value!r} is on the {kind} blocklist already.")
    entry = BlocklistEntry(kind=kind, value=value, created_at=now)
    session.add(entry)
    await session.flush()
    return BlocklistView(id=entry.id, kind=kind, value=value, created_at=now)


async def remove_blocklist(session: AsyncSession, entry_id: int) -> None:
    result = await session.execute(delete(BlocklistEntry).where(BlocklistEntry.id == entry_id))
    if not getattr(result, "rowcount", 0):
        raise NotFound("There is no blocklist entry with this id.")
