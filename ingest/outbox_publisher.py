"""Publishing the outbox after a batch's commit: the rows it wrote, then what others left.

The consumer's store transaction writes lead events and outbound messages into the
outbox tables (`crm_store.intake`), already marked published and named by a ticket
(`crm_store.models.OutboxTicket`); `OutboxPublisher` sends them from memory after the
commit (`publish_written_safely`), then has the ticket deleted, or on a failure marks
them unpublished again. Rows of others are put on their topics and marked published
by a sweep (`crm_store.outbox`): every few seconds, and at once after a failure or
when another writer says so (`changed`), a sweep sends every unpublished row
(`publish_outbox`: a manager's reply written by the console, a watcher's notice,
what a failed publish left, the rows of a ticket older than `ticket_grace`, which a
stopped process left). A failure never fails the batch: the rows stay for the next
sweep (at least once). `send_all` hands messages to the producer within a
deadline; the notifier uses it too. The acknowledgements also tell when the broker
lost its logs (a restarted embedded broker): new offsets below those acknowledged
before. What it held and nobody had read yet is then gone, so the rows published
shortly before are marked unpublished and the sweep sends them again
(`LOST_LOG_WINDOW`). Imports the store's outbox queries and `ingest.outbox`, never
the consumer.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer

from crm_store import outbox
from crm_store.database import Database
from ingest.contract import Topics
from ingest.contract.lost_broker import started_again
from ingest.contract.record_batches import Spans, send_batched
from ingest.outbox import OutboxMessage, event_message, outbound_message, payload_text

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
OUTBOX_POLL = timedelta(seconds=2)
# After the broker lost its logs, the rows published this long before our last
# acknowledgement from the lost broker are published again: the notifier and the
# outbound dispatcher had read what came earlier, unless they lagged by more. A lead
# event sent twice plans nothing twice at the notifier; the dispatcher skips an
# outbound message it sent lately (`connectors.outbound`).
LOST_LOG_WINDOW = timedelta(seconds=60)
TICKET_GRACE = timedelta(seconds=30)


class OutboxPublisher:
    """Publishes one consumer's outbox rows; `producer` returns its current producer."""

    def __init__(
        self,
        db: Database,
        topics: Topics,
        producer: Callable[[], AIOKafkaProducer],
        *,
        clock: Clock,
        deadline_s: float,
        on_lost_logs: Callable[[], None] = lambda: None,
    ) -> None:
        self._db = db
        self._topics = topics
        self._producer = producer
        self._clock = clock
        self._deadline_s = deadline_s
        self._on_lost_logs = on_lost_logs
        # Whether the outbox may hold rows that only a sweep (a read of every
        # unpublished row) will publish: at the start, after a failed publish, and when
        # another writer says so (`changed`).
        self._events_pending = True
        self._outbox_checked_at: datetime | None = None
        # The outbox rows this batch committed, published from memory after it, and
        # the tickets that name them (`crm_store.models.OutboxTicket`).
        self._written_events: list[OutboxMessage] = []
        self._written_outbound: list[OutboxMessage] = []
        self._written_tickets: list[uuid.UUID] = []
        # Tickets whose rows were sent, to delete with the next transaction.
        self._sent_tickets: list[uuid.UUID] = []
        # A ticket older than this belongs to a process that stopped between its commit
        # and its send (a live one sends or gives up within `deadline_s`): its rows go
        # out again. Not less than TICKET_GRACE, so a slow send is not repeated.
        self.ticket_grace = max(TICKET_GRACE, timedelta(seconds=3 * deadline_s))
        # Where each log ended at our last acknowledgement, and when that was.
        self._acked_end: dict[tuple[str, int], int] = {}
        self._acked_at: datetime | None = None

    def forget_written(self) -> None:
        """Start a batch: nothing of it is written yet."""
        self._written_events.clear()
        self._written_outbound.clear()
        self._written_tickets.clear()

    def keep_written(
        self,
        events: Sequence[OutboxMessage],
        outbound: Sequence[OutboxMessage],
        ticket: uuid.UUID | None,
    ) -> None:
        """Remember rows the batch's transaction committed (marked published, named by
        `ticket`), to send after it."""
        self._written_events.extend(events)
        self._written_outbound.extend(outbound)
        if ticket is not None:
            self._written_tickets.append(ticket)

    def sent_tickets(self) -> list[uuid.UUID]:
        """Tickets whose rows the broker acknowledged, still to be deleted: the next
        batch's transaction does it (`BatchStore.write`), or `close_sent_tickets`."""
        return list(self._sent_tickets)

    def tickets_closed(self, tickets: Sequence[uuid.UUID]) -> None:
        """A transaction that deleted these tickets committed."""
        closed = set(tickets)
        self._sent_tickets = [t for t in self._sent_tickets if t not in closed]

    async def close_sent_tickets(self) -> None:
        """Delete the sent tickets in a transaction of their own (when no batch comes
        to do it: idle, or stopping); a failure leaves them for the next try."""
        tickets = self.sent_tickets()
        if not tickets:
            return
        try:
            # Bounded: also called on the way out, when the store may be away.
            async with asyncio.timeout(self._deadline_s):
                await outbox.close_tickets_alone(self._db, tickets)
        except Exception as exc:
            log.warning(
                "could not delete sent outbox tickets now (%s: %s)", type(exc).__name__, exc
            )
            return
        self.tickets_closed(tickets)

    def changed(self) -> None:
        self._events_pending = True

    async def flush_others(self, *, pending_now: bool = False) -> None:
        """Every few seconds, busy or idle, publish what other processes left in the
        outbox (a manager's reply written by the console, a watcher's notice), what a
        failed publish left behind, and the rows of tickets a stopped process left;
        with `pending_now`, at once when rows are known to be waiting."""
        now = self._clock()
        due = self._outbox_checked_at is None or now - self._outbox_checked_at >= OUTBOX_POLL
        if not due and not (pending_now and self._events_pending):
            return
        self._outbox_checked_at = now
        self._events_pending = True
        await self._publish_outbox_safely()

    async def _publish_outbox_safely(self) -> None:
        """Publish the outbox; a failure leaves the rows for the next try and never
        fails the batch (the store already has them)."""
        try:
            await self.publish_outbox()
        except Exception as exc:
            self._events_pending = True
            log.warning(
                "could not publish the outbox now (%s: %s); will retry", type(exc).__name__, exc
            )

    async def publish_written_safely(self) -> None:
        """Send the outbox rows this batch committed, from memory, as they were written
        (no read back, no second transaction: they were committed as published under
        a ticket). Acknowledged, the ticket is deleted at once when it names outbound
        messages, else kept for the next transaction (`sent_tickets`); a failure
        marks the rows unpublished again for the sweep (at least once) and never
        fails the batch."""
        events, outbound = self._written_events, self._written_outbound
        tickets = list(self._written_tickets)
        if not events and not outbound:
            return
        topics = self._topics
        messages = [(topics.lead_events, e.value, e.key) for e in events]
        messages += [(topics.outbound, o.value, o.key) for o in outbound]
        try:
            spans = await send_all(self._producer(), messages, self._deadline_s)
        except Exception as exc:
            log.warning(
                "could not publish the batch's outbox now (%s: %s); will retry",
                type(exc).__name__,
                exc,
            )
            self._events_pending = True
            await self._reopen(tickets)
            return
        self._sent_tickets.extend(tickets)
        if outbound:
            # Messages to people: their ticket goes now, not with the next batch. Left
            # open, a kill -9 meanwhile would have a sweep send them again after the
            # grace, and a restarted dispatcher remembers no mail it sent. A lead event
            # sent twice plans nothing twice at the notifier, so those wait.
            await self.close_sent_tickets()
        try:
            await self._watch_for_lost_logs(spans)
        except Exception as exc:
            self._events_pending = True
            log.warning("could not check the broker's logs now (%s: %s)", type(exc).__name__, exc)

    async def _reopen(self, tickets: Sequence[uuid.UUID]) -> None:
        """Mark the rows of tickets whose send failed unpublished, for the sweep. If
        the store is away too, the tickets stay and a sweep reopens them once they
        are older than `ticket_grace`."""
        if not tickets:
            return
        try:
            async with self._db.sessions() as session, session.begin():
                await outbox.reopen_tickets(session, ids=tickets)
        except Exception as exc:
            log.warning(
                "could not mark an unsent batch's outbox rows unpublished (%s: %s); a "
                "sweep does it after %s",
                type(exc).__name__,
                exc,
                self.ticket_grace,
            )

    async def _refresh_metadata(self) -> None:
        """Ask for the new broker's partitions before sending again: a topic it made
        with fewer takes records for the partitions it does not list, and nobody
        reads those. Best effort: the metadata also refreshes on its own."""
        try:
            await asyncio.wait_for(
                self._producer().client.force_metadata_update(), self._deadline_s
            )
        except Exception as exc:
            log.warning("could not refresh the broker's metadata now: %r", exc)

    async def publish_outbox(self) -> None:
        """Publish the outboxes (lead events, outbound messages) after the commit.

        A failure leaves the rows unpublished; the next batch tries again. Others
        that write to the outbox (the SLA watcher) call this after their commit.
        """
        if not self._events_pending:
            return
        producer = self._producer()
        topics = self._topics
        sent = self.sent_tickets()
        async with self._db.sessions() as session, session.begin():
            if sent:
                await outbox.close_tickets(session, sent)
            stranded = await outbox.reopen_tickets(
                session, created_before=self._clock() - self.ticket_grace
            )
            events = await outbox.unpublished_events(session)
            outbound = await outbox.unpublished_outbound(session)
            messages = [
                _event_message(topics, event_id, payload) for event_id, _, payload in events
            ]
            messages += [_outbound_message(topics, i, payload) for i, payload in outbound]
            spans = await send_all(producer, messages, self._deadline_s)
            now = self._clock()
            await outbox.mark_published(session, [event_id for event_id, _, _ in events], now)
            await outbox.mark_outbound_published(session, [i for i, _ in outbound], now)
        self.tickets_closed(sent)
        if any(stranded):
            log.warning(
                "publishing again %d lead events and %d outbound messages that a stopped "
                "process had committed and may not have sent",
                *stranded,
            )
        self._events_pending = len(events) >= 1000 or len(outbound) >= 1000
        await self._watch_for_lost_logs(spans)

    async def _watch_for_lost_logs(self, spans: Spans) -> None:
        """Keep where the logs end; when new offsets start below that, the broker
        lost its logs (see `started_again`): mark the rows published since
        `LOST_LOG_WINDOW` before our last acknowledgement from it unpublished, for the
        next sweep, which comes at once."""
        if not spans:
            return
        before, self._acked_at = self._acked_at, self._clock()
        if not started_again(self._acked_end, spans) or before is None:
            return
        self._on_lost_logs()
        await self._refresh_metadata()
        since = before - LOST_LOG_WINDOW
        async with self._db.sessions() as session, session.begin():
            events, outbound = await outbox.unpublish_since(session, since)
        self._events_pending = True
        self._outbox_checked_at = None
        log.warning(
            "the broker lost its logs; publishing again %d lead events and %d outbound "
            "messages published since %s",
            events,
            outbound,
            since.isoformat(),
        )


# topic, value, key
Message = tuple[str, bytes, bytes]


def _event_message(topics: Topics, event_id: uuid.UUID, payload: dict[str, Any]) -> Message:
    # The message `publish_written` sends for a row it wrote (`ingest.outbox`): same
    # key, same bytes.
    m = event_message(event_id, payload, payload_text(payload))
    return topics.lead_events, m.value, m.key


def _outbound_message(topics: Topics, record_id: uuid.UUID, payload: dict[str, Any]) -> Message:
    m = outbound_message(record_id, payload, payload_text(payload))
    return topics.outbound, m.value, m.key


async def send_all(
    producer: AIOKafkaProducer, messages: Sequence[Message], deadline_s: float
) -> Spans:
    """Hand every message to the producer, in record batches (one per topic and
    partition, each key where `send` would put it), and wait for every
    acknowledgement, within `deadline_s` in all, or raise `TimeoutError`; the offsets
    the broker gave them (`send_batched`).

    The outbox's callers hold a transaction that marks the rows (on SQLite, the write
    lock) while they wait, and a broker that froze or restarted empty can leave a
    send's future unresolved for ever: without a deadline the consumer would stop
    there, silently. On a timeout the caller rolls back and the rows stay for the
    next sweep (at least once).
    """
    async with asyncio.timeout(deadline_s):
        return await send_batched(producer, messages)
