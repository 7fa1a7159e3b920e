"""The bench finds a process's listening ports (the split ingest child's /metrics) and
tells the split children apart (their CPU is reported apart)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from bench.e2e import _split_role, listening_ports


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


def test_the_split_children_are_told_apart_by_their_command_line() -> None:
    script = "import time; time.sleep(30)"
    children = {
        role: subprocess.Popen([sys.executable, "-c", script, *args])
        for role, args in {
            "ingest": ["serve", "ingest", "--no-seed"],
            "edge": ["serve", "connectors", "console", "--no-seed"],
            None: ["up", "--demo"],
        }.items()
    }
    try:
        assert {role: _split_role(child.pid) for role, child in children.items()} == {
            "ingest": "ingest",
            "edge": "edge",
            None: None,
        }
    finally:
        for child in children.values():
            child.kill()
            child.wait()
