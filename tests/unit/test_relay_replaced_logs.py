"""`replaced_logs` and `started_again`: when the relay reads that the broker lost its log."""

from __future__ import annotations

from ingest.contract.lost_broker import replaced_logs, started_again


def test_a_log_read_on_from_where_it_stood_is_kept() -> None:
    assert replaced_logs({0: 5, 1: 7}, {0: 5, 1: 9}, {0: 5, 1: 9}, {1: 7}) == set()


def test_a_log_that_ends_before_the_position_was_replaced() -> None:
    assert replaced_logs({0: 5, 1: 7}, {0: 5, 1: 7}, {0: 0, 1: 7}, {}) == {0}


def test_a_position_moved_back_by_the_client_is_a_replaced_log() -> None:
    # aiokafka after "offset out of range": back to the new log's start, which has grown
    assert replaced_logs({0: 5}, {0: 0}, {0: 3}, {}) == {0}


def test_records_from_behind_where_it_stood_are_a_replaced_log() -> None:
    # the step back and the fetch from the new log's start came in one round
    assert replaced_logs({0: 5}, {0: 9}, {0: 9}, {0: 0}) == {0}


def test_an_end_not_known_yet_says_nothing() -> None:
    assert replaced_logs({0: 5}, {0: 5}, {0: None}, {}) == set()


def test_a_partition_never_read_starts_at_zero() -> None:
    assert replaced_logs({}, {3: 0}, {3: 0}, {3: 0}) == set()


def test_acknowledgements_that_go_on_growing_are_the_same_log() -> None:
    acked = {0: 5}
    assert started_again(acked, {0: (5, 9), 1: (0, 2)}) == []
    assert acked == {0: 9, 1: 2}


def test_an_acknowledgement_below_the_end_is_a_new_log_and_restarts_the_count() -> None:
    acked = {0: 9, 1: 2}
    assert started_again(acked, {0: (0, 1), 1: (2, 3)}) == [0]
    assert acked == {0: 1, 1: 3}


def test_the_other_partitions_new_logs_do_not_report_the_same_loss_again() -> None:
    acked = {0: 9, 1: 7, 2: 4}
    assert started_again(acked, {0: (0, 2)}) == [0]
    # partitions 1 and 2 come back in their new logs a moment later, from offset 0
    assert started_again(acked, {1: (0, 3), 2: (0, 1)}) == []
    assert acked == {0: 2, 1: 3, 2: 1}
