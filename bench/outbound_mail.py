"""Sending mail: what an acknowledgement costs the connectors process, and how fast
the outbound dispatcher drains a queue of them.

Run `python -m bench.outbound_mail [--mails 2000] [--delays 0,0.02] [--rounds 2]`.
Two measures:
- composing one acknowledgement (`MailRenderer.render`, the customer's Russian text,
  a form template) and flattening it as aiosmtplib sends it: CPU µs per mail, best of
  `--rounds` passes over 500 mails;
- the dispatcher as `leadflow up` runs it: `--mails` acknowledgements, each to its own
  recipient, queued on an embedded Tansu, then `OutboundDispatcher.run` with the real
  `SmtpSender` until the topic is drained, against an aiosmtpd sink in another process
  (plain SMTP on loopback) that waits each `--delays` value before accepting a mail
  (0: at once; 0.02: as a server that writes its queue file, or a hosted one a network
  away). It prints mails/s and this process's CPU per mail (the broker and the sink
  are other processes).
Every new lead asks for two mails when `[smtp]` is configured (the acknowledgement and
the manager's notice), which `bench.e2e` and `bench.targets` leave out: they run
without SMTP. Results: stdout and bench/results/outbound_mail.json. Imports the
connectors and the contract; timings are never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiosmtplib.email import flatten_message

from bench.e2e import cpu_seconds, free_port
from connectors.mail_config import MailTemplate, SmtpConfig
from connectors.mail_render import MailRenderer, Skip
from connectors.outbound import OutboundConfig, OutboundDispatcher
from connectors.smtp import SmtpSender
from ingest.contract import OutboundMessage, Topics
from leadflow.broker import EmbeddedBroker, create_topics

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_OUT = BENCH_DIR / "results" / "outbound_mail.json"
FORM = "bench"
TEMPLATE = MailTemplate(
    subject="Re: {{ subject }}",
    body="Здравствуйте, {{ name }}!\n\nМы получили ваш запрос и ответим в течение часа.\n\n"  # noqa: RUF001
    "Ваш вопрос: {{ text }}",
    language="ru",
)
TEXT = (
    "Добрый день! Интересует поставка 200 единиц оборудования до конца месяца, "
    "пришлите, пожалуйста, коммерческое предложение и сроки. Спасибо."
)


def smtp_config(port: int) -> SmtpConfig:
    return SmtpConfig(
        host="127.0.0.1",
        port=port,
        security="plain",
        from_address="Отдел продаж <sales@example.test>",
        timeout_s=10.0,
        retry_attempts=3,
        retry_backoff_s=0.1,
        ack_window_s=0.0,
    )


def acknowledgement(n: int) -> OutboundMessage:
    lead = uuid.uuid4()
    return OutboundMessage(
        id=uuid.uuid4(),
        channel="email",
        purpose="acknowledgement",
        connector=f"form:{FORM}",
        to=f"client{n}@example.com",
        template="ack",
        context={
            "lead_id": str(lead),
            "name": f"Иван Петров {n}",
            "subject": "Коммерческое предложение",
            "text": TEXT,
            "channel": "web_form",
            "language": "ru",
        },
        headers={"Auto-Submitted": "auto-replied", "Message-ID": f"<ack-{lead}@example.test>"},
        lead_id=lead,
        created_at=datetime.now(UTC),
    )


def renderer(config: SmtpConfig) -> MailRenderer:
    return MailRenderer(config, forms={FORM: TEMPLATE})


def compose_cpu(rounds: int) -> float:
    """CPU µs to render and flatten one acknowledgement, best of `rounds` passes."""
    render = renderer(smtp_config(25))
    messages = [acknowledgement(n) for n in range(500)]
    now = datetime.now(UTC)
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for message in messages:
            mail = render.render(message, now)
            if isinstance(mail, Skip):
                raise RuntimeError(f"the bench's acknowledgement was not sent: {mail.detail}")
            flatten_message(mail)
        best = min(best, (time.process_time() - started) / len(messages) * 1e6)
    return best


class _Sink:
    """aiosmtpd's handler: accept each mail after `delay_s`, count them."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: ARG002, N802 (aiosmtpd's hook)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return "250 OK"


def serve_sink(port: int, delay_s: float) -> None:
    """The sink's process: `python -m bench.outbound_mail --sink PORT DELAY`."""
    from aiosmtpd.controller import Controller

    controller = Controller(_Sink(delay_s), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


@contextlib.contextmanager
def sink_process(delay_s: float) -> Iterator[int]:
    """The sink in a process of its own, listening; its port."""
    port = free_port()
    sink = subprocess.Popen(
        [sys.executable, "-m", "bench.outbound_mail", "--sink", str(port), str(delay_s)]
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port
    finally:
        sink.terminate()
        sink.wait(10)


async def drain(mails: int, port: int) -> dict[str, Any]:
    async with EmbeddedBroker() as broker:
        topics = Topics(prefix=f"mail{uuid.uuid4().hex[:6]}.")
        await create_topics(broker.bootstrap_servers, topics)
        await queue(broker.bootstrap_servers, topics, mails)
        config = smtp_config(port)
        outcomes: dict[str, int] = {}
        sender = SmtpSender(
            config,
            renderer(config),
            count=lambda _purpose, o: outcomes.__setitem__(o, outcomes.get(o, 0) + 1),
        )
        dispatcher = OutboundDispatcher(
            OutboundConfig(broker.bootstrap_servers, topics, group_id="bench-mail")
        )
        dispatcher.register("email", sender)
        pid = broker.pid or 0
        async with dispatcher:
            started, cpu, broker_cpu = time.perf_counter(), time.process_time(), cpu_seconds(pid)
            handled = await dispatcher.run(until_idle=True)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            broker_cpu = cpu_seconds(pid) - broker_cpu
        await sender.close()
    return {
        "mails": mails,
        "handled": handled,
        "outcomes": outcomes,
        "mails_per_s": round(handled / elapsed, 1),
        "cpu_us_per_mail": round(cpu / max(handled, 1) * 1e6),
        "broker_cpu_us_per_mail": round(broker_cpu / max(handled, 1) * 1e6),
    }


async def queue(bootstrap: str, topics: Topics, mails: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        for n in range(mails):
            key, value = acknowledgement(n).to_kafka()
            await producer.send(topics.outbound, value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mails", type=int, default=2000)
    p.add_argument("--delays", default="0,0.02", help="the sink's wait per mail, seconds")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--sink", nargs=2, metavar=("PORT", "DELAY"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.sink:
        serve_sink(int(a.sink[0]), float(a.sink[1]))
        return
    compose = compose_cpu(a.rounds)
    print(f"compose and flatten one acknowledgement: {compose:,.0f} µs CPU", flush=True)
    runs = []
    for delay in (float(d) for d in a.delays.split(",")):
        with sink_process(delay) as port:
            run = {"sink_delay_s": delay, **asyncio.run(drain(a.mails, port))}
        runs.append(run)
        print(
            f"dispatcher, sink waiting {delay * 1000:.0f} ms a mail: {run['handled']} mails, "
            f"{run['mails_per_s']:,.0f}/s, {run['cpu_us_per_mail']:,} µs CPU a mail "
            f"+ Tansu {run['broker_cpu_us_per_mail']:,} µs ({run['outcomes']})",
            flush=True,
        )
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"compose_us": round(compose), "drains": runs}, indent=2) + "\n")
    print(f"results written to {a.out}")


if __name__ == "__main__":
    main()
