"""The bench finds a process's listening ports (the split ingest child's /metrics)."""

from __future__ import annotations

import os
import socket

from bench.e2e import listening_ports


def test_a_listening_socket_is_found_and_a_closed_one_is_not() -> None:
    with socket.socket() as listener, socket.socket() as unconnected:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        unconnected.bind(("127.0.0.1", 0))  # bound, never listening
        port, idle = listener.getsockname()[1], unconnected.getsockname()[1]
        found = listening_ports(os.getpid())
        assert port in found
        assert idle not in found
    assert port not in listening_ports(os.getpid())


def test_a_process_that_does_not_exist_listens_on_nothing() -> None:
    assert listening_ports(2**22 + 1) == []
