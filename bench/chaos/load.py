"""Steady web-form load that survives server restarts, and the count of what was stored.

`FormLoad` posts unique submissions open-loop at a fixed rate until told to stop: post
`i` carries the email `{prefix}-{i}@chaos.test` and a message naming it, and the 202
body's `inquiry_id` is kept. A refused connection, a reset or a timeout is recorded as
status 0 (no answer) and the sender goes on, so one client spans every kill and restart.

`tally` reads the store by SQL (SQLite file or PostgreSQL, on its own engine): leads
and inquiry records per submission, matched by the contact's email. `Tally.verdict`
turns posts + store into the trial's figures. Imports only crm_store of ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from bench.loadgen import client_address
from crm_store.database import create_engine
from crm_store.models import Contact, InquiryRecord, Lead

EMAIL_DOMAIN = "chaos.test"
SETTLE_POLL_S = 1.0


@dataclass(slots=True)
class Post:
    index: int
    sent: float  # wall clock
    answered: float = 0.0
    status: int = 0  # 0: no HTTP answer (refused, reset, timed out)
    inquiry_id: str | None = None


def email_of(prefix: str, index: int) -> str:
    return f"{prefix}-{index}@{EMAIL_DOMAIN}"


def form_body(prefix: str, index: int) -> dict[str, str]:
    """An inquiry a sales team would take: judged a lead and assigned, so that a trial
    also carries the assignment, the lead events and the acknowledgement (a load that
    reads as junk skips all three)."""
    return {
        "name": "Ivan Petrov",
        "email": email_of(prefix, index),
        "message": f"Здравствуйте! Нужен счёт на поставку, заявка {prefix}-{index}",
    }


class FormLoad:
    """Open-loop posts at `rate` per second to one URL until `stop()`."""

    def __init__(
        self,
        url: str,
        prefix: str,
        rate: float,
        *,
        count: int | None = None,
        max_in_flight: int = 256,
        timeout_s: float = 15.0,
    ) -> None:
        self.url = url
        self.count = count
        self.prefix = prefix
        self.rate = rate
        self.posts: list[Post] = []
        self._limit = asyncio.Semaphore(max_in_flight)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self.started_at = 0.0
        self.stopped_at = 0.0

    async def __aenter__(self) -> FormLoad:
        self._task = asyncio.create_task(self._run(), name=f"load-{self.prefix}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def finished(self) -> None:
        """Wait until `count` posts were sent and answered (only with a count)."""
        if self._task is not None:
            await self._task

    async def stop(self) -> None:
        """Stop sending and wait (bounded by the request timeout) for every answer."""
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        # force_close: a connection kept alive across a kill would fail the next post
        # for a reason that has nothing to do with the server's new life.
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        async with aiohttp.ClientSession(connector=connector, timeout=self._timeout) as http:
            self.started_at = time.time()
            start = time.perf_counter()
            index = 0
            while not self._stop.is_set() and (self.count is None or index < self.count):
                due = start + index / self.rate
                delay = due - time.perf_counter()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), delay)
                    continue
                post = Post(index, time.time())
                self.posts.append(post)
                task = asyncio.create_task(self._send(http, post))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
                index += 1
            self.stopped_at = time.time()
            if self._inflight:
                await asyncio.wait(set(self._inflight))

    async def _send(self, http: aiohttp.ClientSession, post: Post) -> None:
        async with self._limit:
            try:
                async with http.post(
                    self.url,
                    data=form_body(self.prefix, post.index),
                    # One address posting thousands of forms is a flood, and junk.
                    headers={"X-Forwarded-For": client_address(post.index)},
                ) as resp:
                    post.status = resp.status
                    if resp.status == 202:
                        body: Any = await resp.json(content_type=None)
                        post.inquiry_id = str(body.get("inquiry_id") or "") or None
                    else:
                        await resp.read()
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
                # An answered 202 whose body broke off is not an acknowledgement either.
                post.status = 0 if post.status in (0, 202) else post.status
                post.inquiry_id = None
            post.answered = time.time()


@dataclass(slots=True)
class Tally:
    """What the store holds for one trial's submissions, by index."""

    leads: Counter[int] = field(default_factory=Counter)
    inquiries: Counter[int] = field(default_factory=Counter)
    inquiry_ids: set[str] = field(default_factory=set)

    def stored(self, posts: Iterable[Post]) -> int:
        return sum(1 for p in posts if p.status == 202 and self.leads[p.index] > 0)


def summarize(posts: list[Post], tally: Tally) -> dict[str, Any]:
    """The trial's figures. Duplicated: a submission with more than one lead or record."""
    accepted = [p for p in posts if p.status == 202]
    refused = [p for p in posts if p.status not in (0, 202)]
    unanswered = [p for p in posts if p.status == 0]
    stored = sum(1 for p in accepted if tally.leads[p.index] > 0)
    duplicated = sum(1 for p in posts if tally.leads[p.index] > 1 or tally.inquiries[p.index] > 1)
    return {
        "sent": len(posts),
        "accepted": len(accepted),
        "refused": len(refused),
        "refused_by_status": dict(sorted(Counter(str(p.status) for p in refused).items())),
        "unanswered": len(unanswered),
        "leads": stored,
        "lost": len(accepted) - stored,
        "duplicated": duplicated,
        "accepted_ids_in_store": sum(1 for p in accepted if p.inquiry_id in tally.inquiry_ids),
        # A 503 promises nothing was recorded: these broke that promise.
        "refused_but_stored": sum(1 for p in refused if tally.leads[p.index] > 0),
        "unanswered_but_stored": sum(1 for p in unanswered if tally.leads[p.index] > 0),
        "server_errors_5xx": sum(1 for p in refused if p.status >= 500 and p.status != 503),
    }


def in_window(posts: list[Post], start: float, end: float) -> dict[str, int]:
    """Posts sent while a fault lasted, and how many of them got 202."""
    window = [p for p in posts if start <= p.sent < end]
    return {"sent": len(window), "accepted": sum(1 for p in window if p.status == 202)}


class StoreReader:
    """Reads leads and inquiry records by SQL, on an engine of its own."""

    def __init__(self, url: str) -> None:
        self._engine = create_engine(url, pool_size=1)

    async def tally(self, prefix: str) -> Tally:
        pattern = re.compile(rf"^{re.escape(prefix)}-(\d+)@{re.escape(EMAIL_DOMAIN)}$")
        like = f"{prefix}-%"
        out = Tally()
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(Contact.email)
                .select_from(Lead)
                .join(Contact, Contact.id == Lead.contact_id)
                .where(Contact.email.like(like))
            )
            for (email,) in rows:
                m = pattern.match(email or "")
                if m:
                    out.leads[int(m.group(1))] += 1
            records = await conn.execute(
                select(Contact.email, InquiryRecord.id)
                .select_from(InquiryRecord)
                .join(Contact, Contact.id == InquiryRecord.contact_id)
                .where(Contact.email.like(like))
            )
            for email, inquiry_id in records:
                m = pattern.match(email or "")
                if m:
                    out.inquiries[int(m.group(1))] += 1
                    out.inquiry_ids.add(str(inquiry_id))
        return out

    async def settle(
        self, prefix: str, posts: list[Post], bound_s: float
    ) -> tuple[Tally, float | None]:
        """Poll until every accepted post has a lead; (last tally, seconds it took or None)."""
        want = sum(1 for p in posts if p.status == 202)
        start = time.monotonic()
        tally = Tally()
        while True:
            with contextlib.suppress(SQLAlchemyError, OSError):
                tally = await self.tally(prefix)
            elapsed = time.monotonic() - start
            if tally.stored(posts) >= want:
                return tally, round(elapsed, 1)
            if elapsed >= bound_s:
                return tally, None
            await asyncio.sleep(SETTLE_POLL_S)

    async def close(self) -> None:
        await self._engine.dispose()
