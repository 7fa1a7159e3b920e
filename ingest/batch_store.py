"""The consumer's store side: one batch of inquiries in, one transaction out.

Drops idempotency keys the store already has, reads the snapshot the pipeline
needs, plans the batch (`ingest.pipeline.plan_batch`, pure), and writes every row,
the outboxes included (marked published, under a ticket, for the consumer to send
from memory), in one transaction. Whatever it raises is the caller's to
classify (retry a transient fault, split the batch around poison). Knows the store
and the pipeline; must not import Kafka.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from crm_store import intake, intake_write, notifications, outbox, plans, team_reads
from crm_store.database import Database
from ingest.contract import Inquiry
from ingest.decision_parts import identities_of, thread_ids_of
from ingest.decisions import (
    AppendToLead,
    Decision,
    LeadRef,
    LinkTelegram,
    LogActivity,
    Policy,
    RecordOnly,
    Snapshot,
)
from ingest.judgement import Judgement, JudgementCache, team_view
from ingest.matching import company_from_email
from ingest.outbox import OutboxMessage, encode_rows
from ingest.pipeline import plan_batch
from ingest.records import rows_for
from ingest.replies import ack_recipient

log = logging.getLogger(__name__)

# Called inside the store transaction with the inquiries about to be written; what it
# raises fails that write like a bug in the pipeline would (tests use it).
StoreHook = Callable[[Sequence[Inquiry]], None]


@dataclass(frozen=True, slots=True)
class StoreOptions:
    default_team: str | None = None
    ack_window: timedelta = timedelta(hours=24)
    # Where messages can be delivered; without SMTP settings there is no email to queue.
    outbound_channels: frozenset[str] = frozenset({"email", "telegram"})


@dataclass(frozen=True, slots=True)
class Written:
    """What a committed batch became: one outcome label per fresh inquiry, how many
    were already known, and the messages of the outbox rows it wrote, in order, so
    the consumer can publish them without reading them back (or encoding them again)."""

    outcomes: tuple[str, ...]
    duplicates: int
    events: tuple[OutboxMessage, ...] = ()
    outbound: tuple[OutboxMessage, ...] = ()
    # Names `events` and `outbound`, committed as published: see `_ticket`.
    ticket: uuid.UUID | None = None


class BatchStore:
    def __init__(
        self,
        db: Database,
        policy: Policy,
        options: StoreOptions,
        *,
        before_store: StoreHook | None = None,
    ) -> None:
        self._db = db
        self._policy = policy
        self._options = options
        self._before_store = before_store
        self._judgement = JudgementCache()

    async def write(
        self,
        inquiries: Sequence[Inquiry],
        now: datetime,
        closing: Sequence[uuid.UUID] = (),
    ) -> Written:
        """Write the batch in one transaction; what each inquiry became. `closing`:
        outbox tickets whose rows were sent since, deleted in the same transaction."""
        unique: dict[str, Inquiry] = {}
        for inquiry in inquiries:
            unique.setdefault(inquiry.idempotency_key, inquiry)
        outcomes: list[str] = []
        events: list[OutboxMessage] = []
        outbound: list[OutboxMessage] = []
        ticket: uuid.UUID | None = None
        async with self._db.sessions() as session, session.begin():
            await plans.for_values(session)
            if closing:
                await outbox.close_tickets(session, closing)
            # One statement for the keys already stored and the recent counts the
            # snapshot needs, asked for every inquiry and kept for the fresh ones.
            known, senders, ips = await intake.known_and_recent(
                session,
                unique,
                {i.key for i in unique.values()},
                now - self._policy.sender_window,
                {i.client.ip for i in unique.values() if i.client.ip},
                now - self._policy.rate_window,
            )
            fresh = [i for k, i in unique.items() if k not in known]
            duplicates = len(inquiries) - len(fresh)
            if fresh and self._before_store is not None:
                self._before_store(fresh)
            if fresh:
                recent = (
                    {i.key: senders[i.key] for i in fresh if i.key in senders},
                    {ip: ips[ip] for i in fresh if (ip := i.client.ip) in ips},
                )
                snapshot, teams = await self._snapshot(session, fresh, now, recent)
                policy = (await self._judgement.get(session, now)).policy(self._policy)
                plan = plan_batch(fresh, snapshot, now, policy)
                linked = await self._redeem_links(session, plan.decisions, now)
                # Only where an acknowledgement can go: no query for email without SMTP.
                deliverable = self._options.outbound_channels
                targets = [
                    t for i in fresh if (t := ack_recipient(i)) is not None and t[0] in deliverable
                ]
                recently: set[tuple[str, str]] = set()
                for channel in {c for c, _ in targets}:
                    found = await intake.recent_recipients(
                        session,
                        channel,
                        "acknowledgement",
                        [a for c, a in targets if c == channel],
                        now - self._options.ack_window,
                    )
                    recently.update((channel, address) for address in found)
                rows = rows_for(
                    plan,
                    {t.id: t.name for t in teams.values()},
                    now,
                    recently_acknowledged=recently,
                    linked=linked,
                    channels=self._options.outbound_channels,
                )
                # Each payload encoded once, for its row and for its message.
                events, outbound = encode_rows(rows.events, rows.outbound)
                ticket = _ticket(rows, now)
                await plans.as_configured(session)
                await intake_write.write_intake(session, rows)
                outcomes = [outcome_of(decision) for decision in plan.decisions]
        return Written(tuple(outcomes), duplicates, tuple(events), tuple(outbound), ticket)

    @staticmethod
    async def _redeem_links(
        session: AsyncSession, decisions: Sequence[Decision], now: datetime
    ) -> set[uuid.UUID]:
        """Link the chats whose `/link CODE` names a pending code; the inquiry ids."""
        linked: set[uuid.UUID] = set()
        for d in decisions:
            if isinstance(d, LinkTelegram):
                user_id = await notifications.redeem_telegram_code(
                    session,
                    notifications.hash_link_code(d.code),
                    chat_id=d.chat_id,
                    bot=d.bot,
                    now=now,
                )
                if user_id is not None:
                    log.info("user %d linked a Telegram chat through bot %s", user_id, d.bot)
                    linked.add(d.inquiry.id)
        return linked

    async def _snapshot(
        self,
        session: AsyncSession,
        fresh: list[Inquiry],
        now: datetime,
        recent: tuple[dict[str, int], dict[str, int]] | None = None,
    ) -> tuple[Snapshot, dict[str, team_reads.TeamRow]]:
        return await read_snapshot(
            session,
            fresh,
            now,
            recent=recent,
            judgement=await self._judgement.get(session, now),
            policy=self._policy,
            default_team=self._options.default_team,
            lock=self._db.dialect == "postgresql",
        )


async def read_snapshot(
    session: AsyncSession,
    fresh: Sequence[Inquiry],
    now: datetime,
    *,
    judgement: Judgement,
    policy: Policy,
    default_team: str | None,
    lock: bool,
    recent: tuple[dict[str, int], dict[str, int]] | None = None,
) -> tuple[Snapshot, dict[str, team_reads.TeamRow]]:
    """What the store knows that `plan_batch` needs about these inquiries. Reads only;
    `lock` takes the teams' rows for update (the consumer's rotation), which a dry run
    must not do. `recent` is the counts per sender key and per client IP when the
    caller has read them already (`intake.known_and_recent`)."""
    contacts = await intake.find_contacts(session, (key for i in fresh for key in identities_of(i)))
    leads = await intake.leads_for_contacts(session, set(contacts.values()))
    not_duplicates = await intake.not_duplicate_pairs(session, set(contacts.values()))
    companies = await intake.find_companies(
        session, {d for i in fresh if (d := company_from_email(i.sender.email))}
    )
    threads = await intake.leads_for_messages(session, (m for i in fresh for m in thread_ids_of(i)))
    by_sender, ips = recent or await intake.recent_counts(
        session,
        {i.key for i in fresh},
        now - policy.sender_window,
        {i.client.ip for i in fresh if i.client.ip},
        now - policy.rate_window,
    )
    teams = await team_reads.load_teams(session, lock=lock, now=now)
    snapshot = Snapshot(
        contacts=contacts,
        teams={name: team_view(t) for name, t in teams.items()},
        recent_from_ip=ips,
        rules=judgement.rules,
        blocklist=judgement.blocklist,
        classifier=judgement.classifier,
        default_team=default_team or next(iter(teams), None),
        leads_by_contact={
            contact_id: tuple(
                LeadRef(r.id, r.status, r.assignee_id, r.team_id, r.created_at) for r in rows
            )
            for contact_id, rows in leads.items()
        },
        threads=threads,
        companies=companies,
        not_duplicates=frozenset(not_duplicates),
        recent_from_sender=by_sender,
    )
    return snapshot, teams


def _ticket(rows: intake_write.IntakeRows, now: datetime) -> uuid.UUID | None:
    """Mark the batch's outbox rows published and name them in a ticket
    (`crm_store.models.OutboxTicket`), written with them: the consumer sends them
    from memory once the transaction commits, and no other flusher's sweep takes them
    meanwhile. Marking them after the send took a second transaction per batch, held
    across the broker's round trip (issue 11)."""
    if not rows.events and not rows.outbound:
        return None
    for row in rows.events:
        row["published_at"] = now
    for row in rows.outbound:
        row["published_at"] = now
    ticket = uuid.uuid4()
    rows.tickets.append(
        outbox.ticket_row(
            ticket, [r["id"] for r in rows.events], [r["id"] for r in rows.outbound], now
        )
    )
    return ticket


def outcome_of(decision: Decision) -> str:
    """The metric label of what an inquiry became."""
    if isinstance(decision, RecordOnly):
        return "recorded_only"
    if isinstance(decision, AppendToLead):
        return "appended"
    if isinstance(decision, LogActivity):
        return "logged"
    if isinstance(decision, LinkTelegram):
        return "telegram_link"
    return "junk_lead" if decision.status == "junk" else "new_lead"
