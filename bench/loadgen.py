"""An open-loop, rate-limited sender of web-form POSTs, run in its own process.

Request `i` is due at `start + i / rate` whatever happened to the earlier ones (open
loop: a slow server does not slow the sender down, so there is no coordinated
omission). Each keep-alive connection carries one request at a time; when none is
idle a new one is opened, up to `--max-connections`, past which due requests wait in
a backlog (their intended send time still counts). The body carries a unique email
`{prefix}-{i}@bench.test`, so each lead can be matched to its request.

It writes JSON: the intended and actual wall-clock send times, the response times
and statuses, indexed by `i`. Hand-rolled HTTP/1.1 over asyncio protocols because
aiohttp's client costs ~4x more CPU per request, and this machine has two cores.
Imports nothing of ours.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import time
from pathlib import Path


def client_address(index: int) -> str:
    """A distinct client address per request (the harness trusts loopback as a proxy):
    one address posting thousands of forms is a flood to the spam rules, not a benchmark."""
    return f"10.{index // 62500 % 250}.{index // 250 % 250}.{index % 250 + 1}"


class _Clock:
    """Wall-clock seconds with `perf_counter` resolution."""

    def __init__(self) -> None:
        self._wall0 = time.time()
        self._perf0 = time.perf_counter()

    def wall(self, perf: float | None = None) -> float:
        return self._wall0 + ((time.perf_counter() if perf is None else perf) - self._perf0)


class _Connection(asyncio.Protocol):
    def __init__(self, sender: Sender) -> None:
        self._sender = sender
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self.current: int | None = None
        self.alive = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self.alive = True

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002
        self.alive = False
        if self.current is not None:
            self._sender.finished(self, self.current, 0)
            self.current = None

    def send(self, index: int, payload: bytes) -> None:
        assert self._transport is not None
        self.current = index
        self._transport.write(payload)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buffer[:end]).decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            total = end + 4 + length
            if len(self._buffer) < total:
                return
            del self._buffer[:total]
            status = int(head.split(" ", 2)[1])
            index, self.current = self.current, None
            if index is not None:
                self._sender.finished(self, index, status)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class Sender:
    def __init__(
        self, host: str, port: int, path: str, prefix: str, count: int, max_connections: int
    ) -> None:
        self._host = host
        self._port = port
        self._path = path
        self._prefix = prefix
        self._count = count
        self._max = max_connections
        self._clock = _Clock()
        self._idle: list[_Connection] = []
        self._all: list[_Connection] = []
        self._opening = 0
        self._backlog: collections.deque[int] = collections.deque()
        self._done = asyncio.Event()
        self.completed = 0
        self.intended = [0.0] * count
        self.sent = [0.0] * count
        self.answered = [0.0] * count
        self.status = [0] * count

    def _payload(self, index: int) -> bytes:
        body = (
            f"name=Bench+User&email={self._prefix}-{index}%40bench.test"
            "&message=Latency+probe+from+the+benchmark"
        ).encode()
        head = (
            f"POST {self._path} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"X-Forwarded-For: {client_address(index)}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        return head + body

    def _dispatch(self, index: int, conn: _Connection) -> None:
        self.sent[index] = self._clock.wall()
        conn.send(index, self._payload(index))

    def finished(self, conn: _Connection, index: int, status: int) -> None:
        self.answered[index] = self._clock.wall()
        self.status[index] = status
        self.completed += 1
        if self.completed >= self._count:
            self._done.set()
        if not conn.alive:
            return
        if self._backlog:
            self._dispatch(self._backlog.popleft(), conn)
        else:
            self._idle.append(conn)

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        self._opening += 1
        try:
            _, conn = await loop.create_connection(
                lambda: _Connection(self), self._host, self._port
            )
        finally:
            self._opening -= 1
        self._all.append(conn)
        if self._backlog:
            self._dispatch(self._backlog.popleft(), conn)
        else:
            self._idle.append(conn)

    async def run(self, rate: float, warm_connections: int, drain_timeout_s: float) -> None:
        for _ in range(warm_connections):
            await self._open()
        openers: set[asyncio.Task[None]] = set()
        start = time.perf_counter() + 0.1
        index = 0
        while index < self._count:
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            now = time.perf_counter()
            while index < self._count and start + index / rate <= now:
                self.intended[index] = self._clock.wall(start + index / rate)
                while self._idle and not self._idle[-1].alive:
                    self._idle.pop()
                if self._idle:
                    self._dispatch(index, self._idle.pop())
                else:
                    self._backlog.append(index)
                    if len(self._all) + self._opening < self._max:
                        task = asyncio.create_task(self._open(), name=f"open-{index}")
                        openers.add(task)
                        task.add_done_callback(openers.discard)
                index += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._done.wait(), drain_timeout_s)
        for conn in self._all:
            conn.close()

    def report(self) -> dict[str, object]:
        return {
            "count": self._count,
            "completed": self.completed,
            "intended": self.intended,
            "sent": self.sent,
            "answered": self.answered,
            "status": self.status,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/forms/contact")
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--max-connections", type=int, default=256)
    parser.add_argument("--warm-connections", type=int, default=16)
    parser.add_argument("--drain-timeout", type=float, default=60.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the load generator only talks to loopback addresses")

    async def go() -> Sender:
        sender = Sender(
            args.host, args.port, args.path, args.prefix, args.count, args.max_connections
        )
        await sender.run(args.rate, args.warm_connections, args.drain_timeout)
        return sender

    sender = asyncio.run(go())
    args.out.write_text(json.dumps(sender.report()))


if __name__ == "__main__":
    main()
