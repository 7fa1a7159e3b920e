"""The relay against the real Tansu broker: order, confirmations, republishing, a lost broker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from connectors.journal import EdgeJournal
from connectors.relay import Relay
from ingest.contract import Inquiry, Topics
from ingest.contract.confirm import encode_confirmation
from leadflow.broker import create_topics
from tests.factories import make_inquiry

from ..conftest import BrokerProcess, start_tansu, stop_tansu
from .channel_helpers import eventually, read_topic
from .journal_helpers import confirm, relay_config, relaying

pytestmark = pytest.mark.integration


def same_sender(n: int) -> list[Inquiry]:
    """`n` inquiries of one sender: one Kafka key, so one partition keeps their order."""
    return [make_inquiry() for _ in range(n)]


async def test_publishes_the_journal_in_order(
    broker: BrokerProcess, topics: Topics, tmp_path: Path
) -> None:
    inquiries = same_sender(60)
    async with EdgeJournal(tmp_path / "j.sqlite3") as journal:
        for inquiry in inquiries:
            await journal.publish(inquiry)
        async with relaying(journal, relay_config(broker.bootstrap_servers, topics, batch=7)):
            await eventually(lambda: journal.stats().published == 60)
        assert journal.stats().entries == 60, "held until the store confirms"
    records = await read_topic(broker.bootstrap_servers, topics.inquiries, 60)
    keys = [Inquiry.from_kafka(v).idempotency_key for v, _ in records]
    assert keys == [i.idempotency_key for i in inquiries]


async def test_entries_appended_within_the_linger_go_in_one_round(
    broker: BrokerProcess, topics: Topics, tmp_path: Path
) -> None:
    # A long linger: ten journal appends (each a commit to disk) must fit in it even on
    # a machine busy with other tests.
    config = relay_config(broker.bootstrap_servers, topics, linger_s=3.0)
    async with (
        EdgeJournal(tmp_path / "j.sqlite3") as journal,
        relaying(journal, config) as relay,
    ):
        # Connected means its first (empty) round is done: it waits for an append.
        await eventually(lambda: relay.connected)
        for inquiry in same_sender(10):
            await journal.publish(inquiry)
        await eventually(lambda: journal.stats().published == 10)
        # Without the linger the first append is published alone at once.
        assert relay.rounds == 1


async def test_rounds_in_one_partition_reach_every_partition_within_seconds(
    broker: BrokerProcess, topics: Topics, tmp_path: Path
) -> None:
    # One sender (one key) for 4 s, a round at a time: each round stays in one
    # partition, but the partitions take turns so quickly that the consumers of a
    # group (`leadflow serve ingest` twice) all get work. With a 10 s turn one
    # process did it all in the scale-out benchmark.
    config = relay_config(broker.bootstrap_servers, topics, one_partition_per_round=True)
    inquiries = same_sender(40)
    async with (
        EdgeJournal(tmp_path / "j.sqlite3") as journal,
        relaying(journal, config) as relay,
    ):
        for inquiry in inquiries:
            await journal.publish(inquiry)
            await asyncio.sleep(0.1)
        await eventually(lambda: journal.stats().published == len(inquiries))
        rounds = relay.rounds
    consumer = AIOKafkaConsumer(
        topics.inquiries,
        bootstrap_servers=broker.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    per_partition: dict[int, int] = {}
    try:
        async with asyncio.timeout(10):
            while sum(per_partition.values()) < len(inquiries):
                for tp, records in (await consumer.getmany(timeout_ms=200)).items():
                    per_partition[tp.partition] = per_partition.get(tp.partition, 0) + len(records)
    finally:
        await consumer.stop()
    assert rounds > 3, "the test needs several rounds to say anything"
    assert sorted(per_partition) == [0, 1, 2], per_partition


async def test_confirmations_delete_the_entries(
    broker: BrokerProcess, topics: Topics, tmp_path: Path
) -> None:
    inquiries = same_sender(10)
    async with EdgeJournal(tmp_path / "j.sqlite3") as journal:
        for inquiry in inquiries:
            await journal.publish(inquiry)
        async with relaying(journal, relay_config(broker.bootstrap_servers, topics)):
            await eventually(lambda: journal.stats().published == 10)
            await confirm(
                broker.bootstrap_servers, topics, [i.idempotency_key for i in inquiries[:4]]
            )
            await eventually(lambda: journal.stats().entries == 6)
            await confirm(
                broker.bootstrap_servers, topics, [i.idempotency_key for i in inquiries[4:]]
            )
            await eventually(lambda: journal.stats().entries == 0)
        stats = journal.stats()
    assert (stats.confirmed, stats.bytes, stats.oldest_age_s) == (10, 0, 0.0)


async def test_unconfirmed_entries_are_published_again(
    broker: BrokerProcess, topics: Topics, tmp_path: Path
) -> None:
    [inquiry] = same_sender(1)
    config = relay_config(broker.bootstrap_servers, topics, republish_after_s=0.5)
    async with EdgeJournal(tmp_path / "j.sqlite3") as journal:
        await journal.publish(inquiry)
        async with relaying(journal, config):
            await eventually(lambda: journal.stats().republished >= 1)
            await confirm(broker.bootstrap_servers, topics, [inquiry.idempotency_key])
            await eventually(lambda: journal.stats().entries == 0)
    records = await read_topic(broker.bootstrap_servers, topics.inquiries, 2)
    assert {Inquiry.from_kafka(v).idempotency_key for v, _ in records} == {inquiry.idempotency_key}


async def test_a_restart_publishes_every_unconfirmed_entry_again(
    broker: BrokerProcess, topics: Topics, tmp_path: Path
) -> None:
    inquiries = same_sender(3)
    path = tmp_path / "j.sqlite3"
    config = relay_config(broker.bootstrap_servers, topics)
    async with EdgeJournal(path) as journal:
        for inquiry in inquiries:
            await journal.publish(inquiry)
        async with relaying(journal, config):
            await eventually(lambda: journal.stats().published == 3)
    async with EdgeJournal(path) as journal, relaying(journal, config):
        await eventually(lambda: journal.stats().published == 3)
    records = await read_topic(broker.bootstrap_servers, topics.inquiries, 6)
    assert len(records) == 6


async def test_a_broker_restarted_empty_gets_its_topics_and_the_entries_back(
    topics: Topics, tmp_path: Path
) -> None:
    own = start_tansu()
    try:
        await create_topics(own.bootstrap_servers, topics, partitions=3)
        first, second = make_inquiry(), make_inquiry()
        config = relay_config(own.bootstrap_servers, topics, republish_after_s=1.0)
        async with EdgeJournal(tmp_path / "j.sqlite3") as journal, relaying(journal, config):
            await journal.publish(first)
            await eventually(lambda: journal.stats().published >= 1)
            stop_tansu(own)
            await journal.publish(second)  # accepted while the broker is away
            own = start_tansu(own.port)  # same port, nothing in it
            # The relay recreates the topics and publishes both (the first again).
            records = await read_topic(own.bootstrap_servers, topics.inquiries, 2, within=30)
            got = {Inquiry.from_kafka(v).idempotency_key for v, _ in records}
            assert got == {first.idempotency_key, second.idempotency_key}
            # Its confirmation consumer found the new partitions and offsets.
            keys = [first.idempotency_key, second.idempotency_key]
            await confirm(own.bootstrap_servers, topics, keys)
            await eventually(lambda: journal.stats().entries == 0, within=30)
    finally:
        stop_tansu(own)


async def test_what_a_broker_lost_is_published_again_without_waiting_for_the_timeout(
    topics: Topics, tmp_path: Path
) -> None:
    """Published, not yet stored, then the broker restarts empty: the relay notices and
    publishes it again at once, not after `republish_after_s` (an hour here)."""
    own = start_tansu()
    try:
        await create_topics(own.bootstrap_servers, topics, partitions=3)
        stored, in_flight = make_inquiry(), make_inquiry()
        config = relay_config(own.bootstrap_servers, topics, republish_after_s=3600.0)
        async with EdgeJournal(tmp_path / "j.sqlite3") as journal, relaying(journal, config):
            await journal.publish(stored)
            await journal.publish(in_flight)
            await eventually(lambda: journal.stats().published == 2)
            await confirm(own.bootstrap_servers, topics, [stored.idempotency_key])
            await eventually(lambda: journal.stats().entries == 1)
            stop_tansu(own)
            own = start_tansu(own.port)  # same port, nothing in it
            records = await read_topic(own.bootstrap_servers, topics.inquiries, 1, within=30)
            assert [Inquiry.from_kafka(v).idempotency_key for v, _ in records] == [
                in_flight.idempotency_key
            ]
    finally:
        stop_tansu(own)


async def test_a_frozen_broker_holds_nothing_up_for_good(topics: Topics, tmp_path: Path) -> None:
    own = start_tansu()
    try:
        await create_topics(own.bootstrap_servers, topics, partitions=3)
        before, during = make_inquiry(), make_inquiry()
        config = relay_config(own.bootstrap_servers, topics)
        async with (
            EdgeJournal(tmp_path / "j.sqlite3") as journal,
            relaying(journal, config) as relay,
        ):
            await journal.publish(before)
            await eventually(lambda: journal.stats().published == 1)
            os.kill(own.process.pid, signal.SIGSTOP)
            try:
                await journal.publish(during)  # the journal answers; the broker does not
                await eventually(lambda: relay.errors >= 1, within=30)
            finally:
                os.kill(own.process.pid, signal.SIGCONT)
            await eventually(lambda: journal.stats().published >= 2, within=30)
            await confirm(
                own.bootstrap_servers, topics, [before.idempotency_key, during.idempotency_key]
            )
            await eventually(lambda: journal.stats().entries == 0, within=30)
    finally:
        stop_tansu(own)


async def test_an_unreachable_broker_gets_the_entries_once_it_is_there(
    topics: Topics, tmp_path: Path
) -> None:
    # The port stays bound (not listening, so connections are refused) until Tansu
    # takes it: a port only picked as free could meanwhile go to another test's broker
    # on the other xdist worker, which the relay would then publish to (the likely cause
    # of this test's one CI failure: the relay found "lost topics" on a broker that
    # later went away).
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    with contextlib.closing(holder):
        await _publish_once_a_broker_takes_the_port(topics, tmp_path, holder, port)


async def _publish_once_a_broker_takes_the_port(
    topics: Topics, tmp_path: Path, holder: socket.socket, port: int
) -> None:
    [inquiry] = same_sender(1)
    config = relay_config(f"127.0.0.1:{port}", topics)
    async with EdgeJournal(tmp_path / "j.sqlite3") as journal, relaying(journal, config) as relay:
        await journal.publish(inquiry)
        await eventually(lambda: relay.errors >= 2)  # refused, backing off, still running
        assert journal.stats().published == 0
        holder.close()
        own = start_tansu(port)
        try:
            # Nobody created the topics: the relay does.
            await eventually(lambda: journal.stats().published == 1, within=30)
            [(value, _)] = await read_topic(own.bootstrap_servers, topics.inquiries, 1)
            assert Inquiry.from_kafka(value).idempotency_key == inquiry.idempotency_key
        finally:
            stop_tansu(own)


async def test_after_an_empty_restart_nothing_is_published_where_no_consumer_reads(
    topics: Topics, tmp_path: Path
) -> None:
    """Tansu creates a topic it does not know on the first request that names it (4
    partitions), and takes records for any partition number: a producer still
    holding the old metadata (6 partitions) puts a third of them where no consumer
    is ever assigned. Once the relay notices the lost state it must publish again
    from fresh metadata, or those inquiries wait for the client's 5-minute refresh."""
    own = start_tansu()
    try:
        await create_topics(own.bootstrap_servers, topics, partitions=6)
        config = relay_config(own.bootstrap_servers, topics, partitions=6, republish_after_s=3600.0)
        async with EdgeJournal(tmp_path / "j.sqlite3") as journal, relaying(journal, config):
            for inquiry in [make_inquiry() for _ in range(12)]:
                await journal.publish(inquiry)
            await eventually(lambda: journal.stats().published == 12)
            own.process.kill()
            own.process.wait()
            own = start_tansu(own.port)  # same port, nothing in it
            after = [make_inquiry() for _ in range(60)]
            for inquiry in after:
                await journal.publish(inquiry)
            wanted = {i.idempotency_key for i in after}
            seen = await _keys_read(own.bootstrap_servers, topics.inquiries, wanted, within=40)
            assert wanted <= seen, f"{len(wanted - seen)} of {len(wanted)} never readable"
    finally:
        stop_tansu(own)


async def _keys_read(bootstrap: str, topic: str, wanted: set[str], *, within: float) -> set[str]:
    """The idempotency keys that readers of every partition in `topic`'s metadata
    find, a fresh reader every few seconds, until `wanted` are all there."""
    seen: set[str] = set()
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while loop.time() < end and not wanted <= seen:
        reader = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
        )
        await reader.start()
        try:
            round_end = min(end, loop.time() + 3.0)
            while loop.time() < round_end and not wanted <= seen:
                batch = await reader.getmany(timeout_ms=200)
                for records in batch.values():
                    seen.update(Inquiry.from_kafka(r.value).idempotency_key for r in records)
        finally:
            await reader.stop()
    return seen


async def test_a_lost_broker_is_noticed_although_the_new_log_grows_at_once(
    topics: Topics, tmp_path: Path
) -> None:
    """The broker restarts empty, the consumer recreates the topics at once and its
    store confirmations flow again: the new confirmation log soon passes the relay's
    old position, after which the loss cannot be seen. The relay must notice before
    that and publish the entry in flight again now, not after `republish_after_s`."""
    own = start_tansu()
    # Four partitions, as Tansu itself creates a topic a client names first: whoever
    # recreates the topics, their layout is unchanged, so only the log's end tells.
    try:
        await create_topics(own.bootstrap_servers, topics, partitions=4)
        config = relay_config(
            own.bootstrap_servers,
            topics,
            partitions=4,
            republish_after_s=3600.0,
            partition_check_s=5.0,  # as configured by default
            timeout_s=5.0,
        )
        stored = [make_inquiry() for _ in range(20)]
        in_flight = make_inquiry()
        async with EdgeJournal(tmp_path / "j.sqlite3") as journal, relaying(journal, config):
            for inquiry in [*stored, in_flight]:
                await journal.publish(inquiry)
            await eventually(lambda: journal.stats().published == 21)
            for inquiry in stored:  # twenty confirmations: about five in each partition
                await confirm(own.bootstrap_servers, topics, [inquiry.idempotency_key])
            await eventually(lambda: journal.stats().entries == 1)
            own.process.kill()
            own.process.wait()
            own = start_tansu(own.port)  # same port, nothing in it
            await create_topics(own.bootstrap_servers, topics, partitions=4)  # the consumer
            async with _confirmations_flowing(own.bootstrap_servers, topics, per_s=20):
                wanted = {in_flight.idempotency_key}
                seen = await _keys_read(own.bootstrap_servers, topics.inquiries, wanted, within=20)
            assert wanted <= seen, "the inquiry the broker lost was not published again"
    finally:
        stop_tansu(own)


@contextlib.asynccontextmanager
async def _confirmations_flowing(
    bootstrap: str, topics: Topics, *, per_s: float
) -> AsyncIterator[None]:
    """Confirmations of other inquiries, as the consumer sends them under load."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()

    async def flow() -> None:
        n = 0
        while True:
            await producer.send_and_wait(topics.stored, encode_confirmation([f"other-{n}"]))
            n += 1
            await asyncio.sleep(1 / per_s)

    task = asyncio.create_task(flow())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await producer.stop()


async def test_a_reading_sent_back_to_the_log_start_is_taken_for_a_lost_broker(
    broker: BrokerProcess, topics: Topics, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Apache Kafka answers a fetch past a replaced log's end with "offset out of
    range", and aiokafka then moves the position back to the log's start on its own
    (`auto_offset_reset`), silently: the log's end no longer shows the loss. Tansu
    answers that fetch with an empty log instead, so the client's step back is made here
    by hand on the relay's own consumer, against the real broker. The relay must read it
    as a lost broker and publish what is in flight again now, not in an hour."""
    opened: list[AIOKafkaConsumer] = []
    open_confirmations = Relay._open_confirmations

    async def keep(relay: Relay) -> AIOKafkaConsumer:
        consumer = await open_confirmations(relay)
        opened.append(consumer)
        return consumer

    monkeypatch.setattr(Relay, "_open_confirmations", keep)
    stored = [make_inquiry() for _ in range(6)]
    in_flight = make_inquiry()
    config = relay_config(broker.bootstrap_servers, topics, republish_after_s=3600.0)
    async with EdgeJournal(tmp_path / "j.sqlite3") as journal, relaying(journal, config):
        for inquiry in [*stored, in_flight]:
            await journal.publish(inquiry)
        await eventually(lambda: journal.stats().published == 7)
        for inquiry in stored:
            await confirm(broker.bootstrap_servers, topics, [inquiry.idempotency_key])
        await eventually(lambda: journal.stats().entries == 1)
        [consumer] = opened
        for tp in consumer.assignment():
            consumer.seek(tp, 0)  # what aiokafka does after "offset out of range"
        await eventually(lambda: journal.stats().republished >= 1, within=10)
    records = await read_topic(broker.bootstrap_servers, topics.inquiries, 8, within=10)
    keys = [Inquiry.from_kafka(v).idempotency_key for v, _ in records]
    assert keys.count(in_flight.idempotency_key) == 2, "the entry in flight was not sent again"


async def test_a_log_started_again_under_the_acknowledged_offsets_is_a_lost_broker(
    topics: Topics, tmp_path: Path
) -> None:
    """The broker restarts empty and another process recreates the topics with the
    same layout before the relay asks; no publish fails, and no confirmation was ever
    read, so the confirmation reader stands at 0 in the new log as in the old. The
    first acknowledgement from the new log, below offsets the old one gave, is the
    sign: what the old log held is published again now, not after an hour. Four
    partitions, as Tansu creates a topic a client names first, so that no layout
    changes either; one sender, so one partition for all."""
    own = start_tansu()
    try:
        await create_topics(own.bootstrap_servers, topics, partitions=4)
        config = relay_config(own.bootstrap_servers, topics, partitions=4, republish_after_s=3600.0)
        before = [make_inquiry() for _ in range(3)]
        after = make_inquiry()
        async with EdgeJournal(tmp_path / "j.sqlite3") as journal, relaying(journal, config):
            for inquiry in before:
                await journal.publish(inquiry)
            await eventually(lambda: journal.stats().published == 3)
            own.process.kill()
            own.process.wait()
            own = start_tansu(own.port)  # same port, nothing in it
            await create_topics(own.bootstrap_servers, topics, partitions=4)  # the consumer
            await journal.publish(after)
            wanted = {i.idempotency_key for i in [*before, after]}
            seen = await _keys_read(own.bootstrap_servers, topics.inquiries, wanted, within=20)
            assert wanted <= seen, "what the lost log held was not published again"
    finally:
        stop_tansu(own)
