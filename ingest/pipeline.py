"""The pipeline's decisions, as pure functions over plain data.

`plan_batch(inquiries, snapshot, now, policy)` returns one `Decision` per inquiry:
record it only, log it on what exists, append it to an open lead, or make a new lead
(which contact; spam band; which team by the routing rules; which manager by the
team's strategy and who is eligible; the first-contact deadline in that manager's
working time). No I/O, no clock, no randomness: ids derive from the inquiry id
(`row_id`), so replaying an inquiry plans exactly the same rows.

The data it decides over and returns lives in `ingest.decisions`, the parts of a
decision in `ingest.decision_parts`, the ids in `ingest.row_ids`; beyond those it
imports only the contract and the pure routing, spam and working-time modules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from ingest.contract import Channel, Inquiry
from ingest.decision_parts import (
    INBOUND_KIND,
    OPEN_STATUSES,
    choose_contact,
    inbound_activity,
    manual_owner,
    open_lead,
    previous_manager,
    thread_ids_of,
)
from ingest.decisions import (
    AppendToLead,
    BatchPlan,
    ContactChoice,
    Decision,
    LeadRef,
    LinkTelegram,
    LogActivity,
    NewLead,
    PlannedActivity,
    Policy,
    RecordOnly,
    Snapshot,
    TeamView,
)
from ingest.routing import TeamState, assign, pick_team
from ingest.row_ids import row_id
from ingest.spam import SpamContext, SpamVerdict, inquiry_text, score
from ingest.worktime import add_working_time

FIRST_CONTACT: Mapping[str, tuple[str, str]] = {
    Channel.PHONE: ("call", "Call back"),
    Channel.EMAIL: ("email", "Reply to the email"),
    Channel.TELEGRAM: ("message", "Reply in Telegram"),
    Channel.WHATSAPP: ("message", "Reply in WhatsApp"),
}

MISSED_CALL = frozenset({"missed", "busy", "voicemail"})
LINK_COMMAND = re.compile(r"^/link\s+(\S+)$")


# --- the decision --------------------------------------------------------------------


def decide(inquiry: Inquiry, snapshot: Snapshot, now: datetime, policy: Policy) -> Decision:
    """One inquiry's decision against a snapshot (see `plan_batch` for a batch)."""
    if inquiry.review is not None:
        return _reviewed_lead(inquiry, snapshot, now, policy)
    if inquiry.not_a_lead:
        return RecordOnly(inquiry, inquiry.not_a_lead)
    if snapshot.recent_from_sender.get(inquiry.key, 0) >= policy.sender_limit:
        return RecordOnly(
            inquiry,
            f"throttled: more than {policy.sender_limit} inquiries from this sender in "
            f"{int(policy.sender_window.total_seconds() // 60)} minutes",
        )
    link = _link_command(inquiry)
    if link is not None:
        return link
    contact = choose_contact(
        inquiry, snapshot.contacts, snapshot.companies, snapshot.not_duplicates
    )
    leads = snapshot.leads_by_contact.get(contact.id, ())
    call_status = inquiry.fields.get("call_status") if inquiry.channel == Channel.PHONE else None

    threaded = _threaded_lead(inquiry, snapshot, leads)
    target = threaded or (
        open_lead(leads, now, policy.window_for(inquiry.channel))
        if inquiry.channel in policy.append_channels and not inquiry.honeypot
        else None
    )
    if target is not None:
        return _append(inquiry, contact, target, now, policy, call_status, threaded is not None)
    if call_status == "answered" and contact.new is None:
        return LogActivity(
            inquiry,
            contact,
            inbound_activity(inquiry, now),
            "answered call from a known customer with no open lead: logged on the contact",
        )
    return _new_lead(inquiry, contact, leads, snapshot, now, policy, call_status)


def _reviewed_lead(inquiry: Inquiry, snapshot: Snapshot, now: datetime, policy: Policy) -> NewLead:
    """A person said this is a real inquiry: a new lead, judged and assigned as any,
    except that the repeat, loop-guard and spam rules do not overrule that person."""
    contact = choose_contact(
        inquiry, snapshot.contacts, snapshot.companies, snapshot.not_duplicates
    )
    leads = snapshot.leads_by_contact.get(contact.id, ())
    call_status = inquiry.fields.get("call_status") if inquiry.channel == Channel.PHONE else None
    return _new_lead(inquiry, contact, leads, snapshot, now, policy, call_status)


def _link_command(inquiry: Inquiry) -> LinkTelegram | None:
    chat_id = inquiry.channel_ids.get("chat_id")
    if inquiry.channel != Channel.TELEGRAM or not chat_id:
        return None
    found = LINK_COMMAND.match((inquiry.text or "").strip())
    if found is None:
        return None
    bot = inquiry.channel_ids.get("bot_id") or inquiry.routing.connector
    return LinkTelegram(inquiry, found.group(1), chat_id, bot)


def _threaded_lead(
    inquiry: Inquiry, snapshot: Snapshot, leads: Sequence[LeadRef]
) -> LeadRef | None:
    for message_id in thread_ids_of(inquiry):
        lead_id = snapshot.threads.get(message_id)
        if lead_id is None:
            continue
        found = next((lead for lead in leads if lead.id == lead_id), None)
        if found is not None:
            return found if found.status in OPEN_STATUSES else None
        # The reply comes from an address we did not know yet: still the same thread.
        return LeadRef(lead_id, "new", None, None, inquiry.received_at)
    return None


def _append(
    inquiry: Inquiry,
    contact: ContactChoice,
    lead: LeadRef,
    now: datetime,
    policy: Policy,
    call_status: str | None,
    threaded: bool,
) -> AppendToLead:
    follow_up = None
    if call_status in MISSED_CALL:
        follow_up = PlannedActivity(
            id=row_id(inquiry.id, "call-back"),
            kind="call",
            subject="Call back",
            due_at=now + timedelta(minutes=policy.callback_minutes),
            is_first_contact=False,
        )
    why = "reply in the thread of" if threaded else "repeat inquiry on"
    return AppendToLead(
        inquiry=inquiry,
        lead_id=lead.id,
        contact=contact,
        assignee_id=lead.assignee_id,
        inbound=inbound_activity(inquiry, now),
        follow_up=follow_up,
        reason=f"{why} open lead {lead.id}",
    )


def _new_lead(
    inquiry: Inquiry,
    contact: ContactChoice,
    leads: Sequence[LeadRef],
    snapshot: Snapshot,
    now: datetime,
    policy: Policy,
    call_status: str | None,
) -> NewLead:
    team, team_reason = _team_for(inquiry, snapshot)
    verdict = judge_spam(inquiry, snapshot, now, policy)
    if inquiry.review is not None and verdict.band != "clean":
        # The signals stay on the lead for the record; the band is the person's call.
        verdict = replace(verdict, band="clean")
    explanation = {"team": team_reason, "spam": verdict.explanation}
    if inquiry.review is not None:
        explanation["review"] = f"a person said inquiry {inquiry.review.of_inquiry} is real"
    if contact.conflict:
        explanation["contact"] = "; ".join(contact.conflict)
    owner = manual_owner(inquiry)
    if verdict.band == "junk":
        # A hand-made lead stays with its owner even as junk, so they can restore it.
        reason = f"not assigned: junk ({verdict.explanation})"
        if owner is not None:
            reason = f"made by hand for {owner[1]}; junk ({verdict.explanation})"
        explanation["assignment"] = reason
        return _lead(
            inquiry,
            contact,
            leads,
            team,
            verdict,
            now,
            explanation,
            assignee=owner[0] if owner else None,
            reason=reason,
            status="junk",
            first_contact=None,
        )
    assignee: int | None
    if owner is not None:
        # Made by hand: it goes to whom its creator said, and the rotation stays put.
        assignee, reason, state = owner[0], f"made by hand for {owner[1]}", None
    else:
        assignee, reason, state = _assign(team, previous_manager(leads), now)
    explanation["assignment"] = reason
    answered = call_status == "answered"
    first_contact = None
    if not answered:
        due = _first_contact_due(inquiry, team, assignee, now, policy, call_status)
        explanation["deadline"] = f"first contact due {due.isoformat()}"
        kind, subject = FIRST_CONTACT.get(inquiry.channel, ("call", "First contact"))
        first_contact = PlannedActivity(
            id=row_id(inquiry.id, "first-contact"), kind=kind, subject=subject, due_at=due
        )
    return _lead(
        inquiry,
        contact,
        leads,
        team,
        verdict,
        now,
        explanation,
        assignee=assignee,
        reason=reason,
        status="in_progress" if answered else "new",
        first_contact=first_contact,
        state=state,
    )


def _lead(
    inquiry: Inquiry,
    contact: ContactChoice,
    leads: Sequence[LeadRef],
    team: TeamView | None,
    verdict: SpamVerdict,
    now: datetime,
    explanation: Mapping[str, str],
    *,
    assignee: int | None,
    reason: str,
    status: str,
    first_contact: PlannedActivity | None,
    state: TeamState | None = None,
) -> NewLead:
    return NewLead(
        inquiry=inquiry,
        lead_id=row_id(inquiry.id, "lead"),
        contact=contact,
        team_id=team.id if team else None,
        assignee_id=assignee,
        assignment_reason=reason,
        status=status,
        spam_score=verdict.score,
        spam_reasons=tuple(r.detail for r in verdict.reasons),
        first_contact=first_contact,
        inbound=inbound_activity(inquiry, now) if inquiry.channel in INBOUND_KIND else None,
        repeat_of=max(leads, key=lambda lead: lead.created_at).id if leads else None,
        needs_review=verdict.band == "suspicious",
        explanation=explanation,
        team_state=state,
    )


def _team_for(inquiry: Inquiry, snapshot: Snapshot) -> tuple[TeamView | None, str]:
    default = snapshot.default_team or ""
    choice = pick_team(inquiry, snapshot.rules, default)
    team = snapshot.teams.get(choice.team)
    if team is not None:
        return team, choice.reason
    fallback = snapshot.teams.get(default)
    if fallback is not None:
        return fallback, f"{choice.reason}; no team {choice.team!r}, so the default team"
    return None, "no team is configured for this inquiry"


def judge_spam(inquiry: Inquiry, snapshot: Snapshot, now: datetime, policy: Policy) -> SpamVerdict:
    classifier = snapshot.classifier
    probability = None
    text = inquiry_text(inquiry)
    if classifier is not None and text:
        probability = classifier.probability_junk(text)
    # Only web forms carry a render token; other channels must not look "too fast".
    secret = policy.render_secret if inquiry.channel == Channel.WEB_FORM else None
    context = SpamContext(
        now=now,
        secret=secret,
        render_token=inquiry.channel_ids.get("render_token"),
        blocklist=snapshot.blocklist,
        recent_from_sender=snapshot.recent_from_sender.get(inquiry.key, 0),
        recent_from_ip=snapshot.recent_from_ip.get(inquiry.client.ip or "", 0),
        junk_probability=probability,
    )
    return score(inquiry, context, policy.spam)


def _first_contact_due(
    inquiry: Inquiry,
    team: TeamView | None,
    assignee: int | None,
    now: datetime,
    policy: Policy,
    call_status: str | None,
) -> datetime:
    minutes = (
        policy.callback_minutes
        if call_status in MISSED_CALL
        else policy.sla_minutes.get(inquiry.channel, policy.default_sla_minutes)
    )
    member = team.member(assignee) if team is not None and assignee is not None else None
    if member is None:
        return now + timedelta(minutes=minutes)
    return add_working_time(
        now, timedelta(minutes=minutes), member.working_hours, member.timezone, member.absences
    )


def _assign(
    team: TeamView | None, previous: int | None, now: datetime
) -> tuple[int | None, str, TeamState | None]:
    if team is None:
        return None, "queued: no team is configured for this inquiry", None
    result = assign(team.team_state(), team.member_states(), now, previous)
    return result.user_id, result.reason, result.new_team_state


def plan_batch(
    inquiries: Sequence[Inquiry], snapshot: Snapshot, now: datetime, policy: Policy
) -> BatchPlan:
    """Decide a batch in order, threading new contacts, leads and cursors through."""
    contacts = dict(snapshot.contacts)
    teams = dict(snapshot.teams)
    leads = dict(snapshot.leads_by_contact)
    recent = dict(snapshot.recent_from_sender)
    ips = dict(snapshot.recent_from_ip)
    companies = dict(snapshot.companies)
    working = replace(
        snapshot,
        contacts=contacts,
        teams=teams,
        leads_by_contact=leads,
        recent_from_sender=recent,
        recent_from_ip=ips,
        companies=companies,
    )
    decisions: list[Decision] = []
    cursors: dict[int, int | None] = {}
    rotation: dict[int, dict[str, list[list[int]]]] = {}
    for inquiry in inquiries:
        decision = decide(inquiry, working, now, policy)
        decisions.append(decision)
        recent[inquiry.key] = recent.get(inquiry.key, 0) + 1
        if isinstance(decision, RecordOnly | LinkTelegram):
            continue
        if decision.contact.new is not None:
            for key in decision.contact.new.identities:
                contacts.setdefault(key, decision.contact.id)
            company = decision.contact.new.company
            if company is not None:
                companies.setdefault(company.domain, company.id)
        if isinstance(decision, NewLead):
            ref = LeadRef(
                decision.lead_id, decision.status, decision.assignee_id, decision.team_id, now
            )
            leads[decision.contact.id] = (*leads.get(decision.contact.id, ()), ref)
            if inquiry.client.ip:
                ips[inquiry.client.ip] = ips.get(inquiry.client.ip, 0) + 1
            state = decision.team_state
            if decision.assignee_id is not None and decision.team_id is not None and state:
                name = next(t.name for t in teams.values() if t.id == decision.team_id)
                teams[name] = teams[name].after_assigning(decision.assignee_id, state)
                cursors[decision.team_id] = state.last_user_id
                rotation[decision.team_id] = {
                    "current_weights": [list(pair) for pair in state.current_weights]
                }
    return BatchPlan(tuple(decisions), cursors, rotation)
