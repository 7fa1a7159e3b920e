"""Replaying any prefix of the inquiries never changes the final state.

A small in-memory stand-in for the consumer's store side (idempotency keys,
contacts, leads, rotation) applies `plan_batch` the way the consumer does. Kafka
redelivers after a crash, so any prefix may arrive again, in any batching.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.contract import Inquiry, Sender
from ingest.decision_parts import identities_of
from ingest.decisions import (
    AppendToLead,
    LeadRef,
    LinkTelegram,
    LogActivity,
    NewLead,
    Policy,
    RecordOnly,
    Snapshot,
)
from ingest.pipeline import plan_batch

from ..factories import NOW, make_inquiry, make_team


@dataclass
class Store:
    keys: set[str] = field(default_factory=set)
    contacts: dict[tuple[str, str], uuid.UUID] = field(default_factory=dict)
    leads: dict[uuid.UUID, tuple[uuid.UUID, int | None]] = field(default_factory=dict)
    activities: set[uuid.UUID] = field(default_factory=set)
    last_user: int | None = None

    def snapshot(self) -> Snapshot:
        by_contact: dict[uuid.UUID, tuple[LeadRef, ...]] = {}
        for lead_id, (contact, assignee) in self.leads.items():
            ref = LeadRef(lead_id, "new", assignee, 1, NOW)
            by_contact[contact] = (*by_contact.get(contact, ()), ref)
        return Snapshot(
            contacts=dict(self.contacts),
            teams={"Sales": make_team(last_user_id=self.last_user)},
            leads_by_contact=by_contact,
        )

    def consume(self, batch: list[Inquiry]) -> None:
        fresh: dict[str, Inquiry] = {}
        for inquiry in batch:
            if inquiry.idempotency_key not in self.keys:
                fresh.setdefault(inquiry.idempotency_key, inquiry)
        plan = plan_batch(list(fresh.values()), self.snapshot(), NOW, Policy())
        for d in plan.decisions:
            self.keys.add(d.inquiry.idempotency_key)
            if isinstance(d, RecordOnly | LinkTelegram):
                continue
            for key in identities_of(d.inquiry):
                self.contacts.setdefault(key, d.contact.id)
            if isinstance(d, NewLead):
                self.leads[d.lead_id] = (d.contact.id, d.assignee_id)
                if d.first_contact:
                    self.activities.add(d.first_contact.id)
            elif isinstance(d, AppendToLead | LogActivity):
                self.activities.add(d.inbound.id)
        self.last_user = plan.team_cursors.get(1, self.last_user)


def build(senders: list[int]) -> list[Inquiry]:
    return [
        make_inquiry(
            id=uuid.UUID(int=i + 1),
            idempotency_key=f"k{i}",
            sender=Sender(email=f"s{s}@example.com"),
        )
        for i, s in enumerate(senders)
    ]


def run(inquiries: list[Inquiry], cuts: list[int]) -> Store:
    store = Store()
    start = 0
    for cut in [*sorted(set(cuts)), len(inquiries)]:
        if cut > start:
            store.consume(inquiries[start:cut])
            start = cut
    return store


@settings(max_examples=60, deadline=None)
@given(
    senders=st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=25),
    cuts=st.lists(st.integers(min_value=0, max_value=25), max_size=4),
    prefix=st.integers(min_value=0, max_value=25),
    replay_cuts=st.lists(st.integers(min_value=0, max_value=25), max_size=3),
)
def test_replaying_any_prefix_never_changes_the_final_state(
    senders: list[int], cuts: list[int], prefix: int, replay_cuts: list[int]
) -> None:
    inquiries = build(senders)
    once = run(inquiries, cuts)
    assert once == run(inquiries, []), "how the stream is cut into batches does not matter"
    again = run(inquiries, cuts)
    replayed = inquiries[: min(prefix, len(inquiries))]
    start = 0
    for cut in [*sorted(set(replay_cuts)), len(replayed)]:
        if cut > start:
            again.consume(replayed[start:cut])
            start = cut
    assert again == once


@settings(max_examples=40, deadline=None)
@given(
    senders=st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=25),
    cuts=st.lists(st.integers(min_value=0, max_value=25), max_size=4),
)
def test_one_lead_per_sender_within_the_window_whatever_the_batching(
    senders: list[int], cuts: list[int]
) -> None:
    store = run(build(senders), cuts)
    assert len(store.leads) == len(set(senders))
