"""The admin API: forms, people (users, teams, members, absences), and the rules of
routing and spam (routing rules, SLA minutes, spam thresholds, blocklist).

Connectors have their own module (`console.connector_admin`). Rule settings are
stored in `rule_setting` under the keys `sla_minutes` and `spam_thresholds`, for the
ingest judgement to read. Imports `crm_store` and `console` helpers only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp
from pydantic import BaseModel

from console.http import ApiError, Call, Endpoint, Reply, collect, route
from console.passwords import hash_password
from console.schemas import (
    AbsenceBody,
    BlocklistBody,
    FormBody,
    FormCreate,
    FormTest,
    MemberBody,
    RoutingRuleBody,
    RuleSettings,
    SlaBody,
    SpamThresholdsBody,
    TeamBody,
    TeamPatch,
    UserBody,
    UserList,
    UserPatch,
)
from crm_store import configuration, people, sessions
from crm_store.configuration import BlocklistView, FormView, RoutingRuleView
from crm_store.database import Database
from crm_store.people import AbsenceView, TeamView, UserView
from ingest.contract.i18n import N_

DEFAULT_SLA = {"phone": 15, "telegram": 15, "whatsapp": 15, "web_form": 30, "email": 60}
FORM_CHECK_TIMEOUT_S = 5.0


class FormItems(BaseModel):
    items: list[FormView]


class TeamItems(BaseModel):
    items: list[TeamView]


class AbsenceItems(BaseModel):
    items: list[AbsenceView]


class RuleItems(BaseModel):
    items: list[RoutingRuleView]


class BlocklistItems(BaseModel):
    items: list[BlocklistView]


class AdminEndpoints:
    def __init__(
        self,
        db: Database,
        *,
        forms_base_url: str | None = None,
        sla_defaults: Mapping[str, int] | None = None,
    ) -> None:
        self._db = db
        self._forms_base = forms_base_url
        self._sla_defaults = dict(sla_defaults or DEFAULT_SLA)

    def endpoints(self) -> list[Endpoint]:
        return collect(self, tag="admin", access="admin")

    # --- forms ---------------------------------------------------------------------

    @route("GET", "/api/v1/admin/forms", "Web forms", response=FormItems)
    async def list_forms(self, _call: Call) -> FormItems:
        async with self._db.sessions() as session:
            return FormItems(items=await configuration.list_forms(session))

    @route("GET", "/api/v1/admin/forms/{slug}", "One web form", response=FormView)
    async def get_form(self, call: Call) -> FormView:
        async with self._db.sessions() as session:
            return await configuration.get_form(session, call.request.match_info["slug"])

    @route(
        "POST",
        "/api/v1/admin/forms",
        "Create a web form",
        body=FormCreate,
        response=FormView,
        status=201,
    )
    async def create_form(self, call: Call) -> Reply:
        body = call.body_as(FormCreate)
        values = body.model_dump(mode="json", exclude={"slug"})
        async with self._db.sessions() as session, session.begin():
            view = await configuration.save_form(
                session, body.slug, values=values, create=True, now=call.now
            )
        return Reply(view, status=201)

    @route(
        "PUT", "/api/v1/admin/forms/{slug}", "Change a web form", body=FormBody, response=FormView
    )
    async def update_form(self, call: Call) -> FormView:
        values = call.body_as(FormBody).model_dump(mode="json")
        async with self._db.sessions() as session, session.begin():
            return await configuration.save_form(
                session, call.request.match_info["slug"], values=values, create=False, now=call.now
            )

    @route("DELETE", "/api/v1/admin/forms/{slug}", "Delete a web form", status=204)
    async def delete_form(self, call: Call) -> None:
        async with self._db.sessions() as session, session.begin():
            await configuration.delete_form(session, call.request.match_info["slug"])

    @route(
        "POST",
        "/api/v1/admin/forms/{slug}/test",
        "Check that the form's page is served",
        response=FormTest,
    )
    async def test_form(self, call: Call) -> FormTest:
        slug = call.request.match_info["slug"]
        async with self._db.sessions() as session:
            form = await configuration.get_form(session, slug)
        base = self._forms_base or str(call.request.url.origin())
        url = f"{base.rstrip('/')}/forms/{form.slug}"
        try:
            timeout = aiohttp.ClientTimeout(total=FORM_CHECK_TIMEOUT_S)
            async with aiohttp.ClientSession(timeout=timeout) as client, client.get(url) as resp:
                page = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            return FormTest(ok=False, url=url, detail=f"The page could not be fetched: {exc}")
        if status == 200 and "<form" in page:
            return FormTest(ok=True, url=url, detail="The form page is served.")
        hint = " Forms are reloaded every few seconds; retry shortly." if status == 404 else ""
        return FormTest(ok=False, url=url, detail=f"The page answered {status}.{hint}")

    # --- people ----------------------------------------------------------------------

    @route("GET", "/api/v1/admin/users", "Users", response=UserList)
    async def list_users(self, _call: Call) -> UserList:
        async with self._db.sessions() as session:
            return UserList(items=await people.list_users(session))

    @route("GET", "/api/v1/admin/users/{user_id}", "One user", response=UserView)
    async def get_user(self, call: Call) -> UserView:
        async with self._db.sessions() as session:
            return await people.get_user(session, call.path_int("user_id"))

    @route(
        "POST", "/api/v1/admin/users", "Create a user", body=UserBody, response=UserView, status=201
    )
    async def create_user(self, call: Call) -> Reply:
        body = call.body_as(UserBody)
        pw = await asyncio.to_thread(hash_password, body.password) if body.password else None
        values = body.model_dump(mode="json", exclude={"password"})
        async with self._db.sessions() as session, session.begin():
            view = await people.create_user(session, values=values, password_hash=pw, now=call.now)
        return Reply(view, status=201)

    @route(
        "PATCH",
        "/api/v1/admin/users/{user_id}",
        "Change a user (role, hours, password ...)",
        body=UserPatch,
        response=UserView,
    )
    async def update_user(self, call: Call) -> UserView:
        body = call.body_as(UserPatch)
        user_id = call.path_int("user_id")
        values = body.model_dump(mode="json", exclude={"password"}, exclude_unset=True)
        if user_id == call.who.user_id and (
            values.get("active") is False or values.get("role", "admin") != "admin"
        ):
            raise ApiError(409, N_("You cannot deactivate yourself or drop your own admin role."))
        pw = await asyncio.to_thread(hash_password, body.password) if body.password else None
        async with self._db.sessions() as session, session.begin():
            view = await people.update_user(session, user_id, values=values, password_hash=pw)
            if pw is not None or not view.active:
                await sessions.close_user_sessions(session, user_id)
        return view

    @route("GET", "/api/v1/admin/teams", "Teams and their members", response=TeamItems)
    async def list_teams(self, _call: Call) -> TeamItems:
        async with self._db.sessions() as session:
            return TeamItems(items=await people.list_teams(session))

    @route(
        "POST", "/api/v1/admin/teams", "Create a team", body=TeamBody, response=TeamView, status=201
    )
    async def create_team(self, call: Call) -> Reply:
        values = call.body_as(TeamBody).model_dump()
        async with self._db.sessions() as session, session.begin():
            view = await people.save_team(session, None, values=values, now=call.now)
        return Reply(view, status=201)

    @route(
        "PATCH", "/api/v1/admin/teams/{team_id}", "Change a team", body=TeamPatch, response=TeamView
    )
    async def update_team(self, call: Call) -> TeamView:
        values = call.body_as(TeamPatch).model_dump(exclude_unset=True)
        async with self._db.sessions() as session, session.begin():
            return await people.save_team(
                session, call.path_int("team_id"), values=values, now=call.now
            )

    @route(
        "PUT",
        "/api/v1/admin/teams/{team_id}/members/{user_id}",
        "Add or change a member (capacity, cap, weight)",
        body=MemberBody,
        response=TeamView,
    )
    async def save_member(self, call: Call) -> TeamView:
        values = call.body_as(MemberBody).model_dump()
        async with self._db.sessions() as session, session.begin():
            return await people.save_member(
                session, call.path_int("team_id"), call.path_int("user_id"), values=values
            )

    @route(
        "DELETE", "/api/v1/admin/teams/{team_id}/members/{user_id}", "Remove a member", status=204
    )
    async def remove_member(self, call: Call) -> None:
        async with self._db.sessions() as session, session.begin():
            await people.remove_member(session, call.path_int("team_id"), call.path_int("user_id"))

    @route("GET", "/api/v1/admin/absences", "Absences", response=AbsenceItems)
    async def list_absences(self, _call: Call) -> AbsenceItems:
        async with self._db.sessions() as session:
            return AbsenceItems(items=await people.list_absences(session))

    @route(
        "POST",
        "/api/v1/admin/absences",
        "Record an absence",
        body=AbsenceBody,
        response=AbsenceView,
        status=201,
    )
    async def add_absence(self, call: Call) -> Reply:
        values = call.body_as(AbsenceBody).model_dump()
        async with self._db.sessions() as session, session.begin():
            return Reply(await people.add_absence(session, values=values), status=201)

    @route("DELETE", "/api/v1/admin/absences/{absence_id}", "Delete an absence", status=204)
    async def remove_absence(self, call: Call) -> None:
        async with self._db.sessions() as session, session.begin():
            await people.remove_absence(session, call.path_int("absence_id"))

    # --- rules -----------------------------------------------------------------------

    @route("GET", "/api/v1/admin/routing-rules", "Routing rules, by priority", response=RuleItems)
    async def list_rules(self, _call: Call) -> RuleItems:
        async with self._db.sessions() as session:
            return RuleItems(items=await configuration.list_routing_rules(session))

    @route(
        "POST",
        "/api/v1/admin/routing-rules",
        "Create a routing rule",
        body=RoutingRuleBody,
        response=RoutingRuleView,
        status=201,
    )
    async def create_rule(self, call: Call) -> Reply:
        values = call.body_as(RoutingRuleBody).model_dump()
        async with self._db.sessions() as session, session.begin():
            view = await configuration.save_routing_rule(session, None, values=values, now=call.now)
        return Reply(view, status=201)

    @route(
        "PUT",
        "/api/v1/admin/routing-rules/{rule_id}",
        "Change a routing rule",
        body=RoutingRuleBody,
        response=RoutingRuleView,
    )
    async def update_rule(self, call: Call) -> RoutingRuleView:
        values = call.body_as(RoutingRuleBody).model_dump()
        async with self._db.sessions() as session, session.begin():
            return await configuration.save_routing_rule(
                session, call.path_int("rule_id"), values=values, now=call.now
            )

    @route("DELETE", "/api/v1/admin/routing-rules/{rule_id}", "Delete a routing rule", status=204)
    async def delete_rule(self, call: Call) -> None:
        async with self._db.sessions() as session, session.begin():
            await configuration.delete_routing_rule(session, call.path_int("rule_id"))

    async def _settings(self) -> RuleSettings:
        async with self._db.sessions() as session:
            stored = await configuration.rule_settings(session)
        sla = {**self._sla_defaults, **stored.get("sla_minutes", {})}
        return RuleSettings(
            sla_minutes=sla,
            spam_thresholds=SpamThresholdsBody.model_validate(stored.get("spam_thresholds", {})),
        )

    @route(
        "GET",
        "/api/v1/admin/settings",
        "SLA per channel and spam thresholds",
        response=RuleSettings,
    )
    async def get_settings(self, _call: Call) -> RuleSettings:
        return await self._settings()

    @route(
        "PUT",
        "/api/v1/admin/settings/sla_minutes",
        "Set the first-contact SLA per channel",
        body=SlaBody,
        response=RuleSettings,
    )
    async def put_sla(self, call: Call) -> RuleSettings:
        minutes = {str(k): v for k, v in call.body_as(SlaBody).minutes.items()}
        async with self._db.sessions() as session, session.begin():
            await configuration.put_rule_setting(session, "sla_minutes", minutes, call.now)
        return await self._settings()

    @route(
        "PUT",
        "/api/v1/admin/settings/spam_thresholds",
        "Set the spam thresholds",
        body=SpamThresholdsBody,
        response=RuleSettings,
    )
    async def put_spam(self, call: Call) -> RuleSettings:
        value = call.body_as(SpamThresholdsBody).model_dump()
        async with self._db.sessions() as session, session.begin():
            await configuration.put_rule_setting(session, "spam_thresholds", value, call.now)
        return await self._settings()

    @route("GET", "/api/v1/admin/blocklist", "The spam blocklist", response=BlocklistItems)
    async def list_blocklist(self, _call: Call) -> BlocklistItems:
        async with self._db.sessions() as session:
            return BlocklistItems(items=await configuration.list_blocklist(session))

    @route(
        "POST",
        "/api/v1/admin/blocklist",
        "Add a blocklist entry",
        body=BlocklistBody,
        response=BlocklistView,
        status=201,
    )
    async def add_blocklist(self, call: Call) -> Reply:
        body = call.body_as(BlocklistBody)
        async with self._db.sessions() as session, session.begin():
            view = await configuration.add_blocklist(
                session, kind=body.kind, value=body.value, now=call.now
            )
        return Reply(view, status=201)

    @route("DELETE", "/api/v1/admin/blocklist/{entry_id}", "Delete a blocklist entry", status=204)
    async def remove_blocklist(self, call: Call) -> None:
        async with self._db.sessions() as session, session.begin():
            await configuration.remove_blocklist(session, call.path_int("entry_id"))
