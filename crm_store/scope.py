"""Who may see what, as SQL clauses that every console query includes.

admin: everything. head: the leads of the teams they head (`team.head_user_id`) and
their own. manager: only the leads assigned to them. Deals, contacts and companies
follow the leads: a deal is seen through its lead or its owner, a contact and a
company through the leads and deals seen. The scope is part of each query, never a
filter applied afterwards, so what is out of scope does not exist for the caller
(the API answers 404). Imports nothing of ours outside `crm_store`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, exists, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute

from crm_store.accounts import Principal
from crm_store.models import Company, Contact, Deal, Lead, Team, TeamMember


def headed_teams(who: Principal) -> Select[int]:
    return select(Team.id).where(Team.head_user_id == who.user_id)


def lead_scope(who: Principal) -> ColumnElement[bool]:
    """A WHERE clause on `Lead` limiting rows to what `who` may see."""
    if who.role == "admin":
        return true()
    if who.role == "head":
        return or_(Lead.team_id.in_(headed_teams(who)), Lead.assignee_id == who.user_id)
    return Lead.assignee_id == who.user_id


def user_scope(
    who: Principal, column: ColumnElement[Any] | InstrumentedAttribute[Any]
) -> ColumnElement[bool]:
    """A WHERE clause on a user-id `column` limiting rows to the users `who` may see."""
    if who.role == "admin":
        return true()
    if who.role == "head":
        members = select(TeamMember.user_id).where(TeamMember.team_id.in_(headed_teams(who)))
        return or_(column.in_(members), column == who.user_id)
    return column == who.user_id


# Correlated EXISTS rather than IN (subquery): a manager with many leads makes the IN
# list large, while EXISTS reads the few rows of the one record through its index.


def deal_scope(who: Principal) -> ColumnElement[bool]:
    """On `Deal`: the deals `who` owns (a head: their members own) or whose lead they see."""
    if who.role == "admin":
        return true()
    seen_lead = exists().where(Lead.id == Deal.lead_id, lead_scope(who))
    return or_(user_scope(who, Deal.owner_id), seen_lead)


def contact_scope(who: Principal) -> ColumnElement[bool]:
    """On `Contact`: the contacts of the leads and deals `who` may see."""
    if who.role == "admin":
        return true()
    of_leads = exists().where(Lead.contact_id == Contact.id, lead_scope(who))
    of_deals = exists().where(Deal.contact_id == Contact.id, deal_scope(who))
    return or_(of_leads, of_deals)


def company_scope(who: Principal) -> ColumnElement[bool]:
    """On `Company`: the companies of the contacts and deals `who` may see."""
    if who.role == "admin":
        return true()
    of_contacts = exists().where(Contact.company_id == Company.id, contact_scope(who))
    of_deals = exists().where(Deal.company_id == Company.id, deal_scope(who))
    return or_(of_contacts, of_deals)
