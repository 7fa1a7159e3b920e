"""Our murmur2 places every key where aiokafka's default partitioner (and Kafka's
Java client) would: a lead's events must land on one partition whichever of our
producers sends them, and where any other Kafka producer would put that key."""

from __future__ import annotations

import uuid

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.contract.record_batches import murmur2, partition_of

# Published values of Kafka's Java client (org.apache.kafka.common.utils.UtilsTest).
JAVA = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


def test_the_java_clients_published_values() -> None:
    for key, expected in JAVA.items():
        assert murmur2(key) == expected & 0xFFFFFFFF, key


@settings(max_examples=2000)
@given(st.binary(max_size=80))
def test_same_hash_as_aiokafka(key: bytes) -> None:
    assert murmur2(key) == aiokafka_murmur2(key)


@given(st.binary(max_size=40), st.integers(min_value=1, max_value=64))
def test_same_partition_as_the_default_partitioner(key: bytes, n: int) -> None:
    ids = list(range(n))
    assert partition_of(key, ids) == DefaultPartitioner()(key, ids, ids)


def test_lead_ids_as_keys() -> None:
    ids = [0, 1, 2, 3, 4, 5]
    for _ in range(500):
        key = str(uuid.uuid4()).encode()
        assert partition_of(key, ids) == DefaultPartitioner()(key, ids, ids)


def test_a_message_without_a_key_goes_to_one_of_the_partitions() -> None:
    assert {partition_of(None, [3, 7]) for _ in range(200)} == {3, 7}
