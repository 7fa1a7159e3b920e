"""SQL statements per consumer batch: what a batch's fixed cost is made of.

Run `python -m bench.batch_statements [--store sqlite|postgresql] [--n 200]
[--max-batch 10]`. It runs `bench.consumer_cpu`'s set-up (embedded broker, fresh
store, one team, N unique web-form inquiries) and counts, with SQLAlchemy's
`before_cursor_execute` event on every engine, the statements sent while the
consumer handles a batch (`InquiryConsumer.process`), then prints them per batch,
most frequent first. An executemany counts as one statement. It uses only public
names that older trees have too, so the same script measures a branch and main
(`PYTHONPATH=<tree> <tree>/.venv/bin/python <this file>`).
"""

from __future__ import annotations

import argparse
import asyncio
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench.consumer_cpu import with_store
from ingest.consumer import InquiryConsumer
from ingest.kafka_pair import Record

counts: Counter[str] = Counter()
batches = 0
inside = False


def _label(statement: str) -> str:
    """The statement's kind and first table, enough to tell them apart."""
    text = " ".join(statement.split())
    m = re.match(r"(SELECT|INSERT INTO|UPDATE|DELETE FROM|BEGIN|COMMIT|SAVEPOINT|\w+)", text)
    verb = m.group(1) if m else text[:10]
    table = re.search(r"(?:FROM|INTO|UPDATE)\s+(\w+)", text)
    return f"{verb} {table.group(1) if table else ''}".strip()


def _count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    if inside:
        counts[_label(statement)] += 1


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.batch_statements")
    p.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--max-batch", type=int, default=10)
    a = p.parse_args()
    event.listen(Engine, "before_cursor_execute", _count)
    process = InquiryConsumer.process

    async def counted(self: InquiryConsumer, records: Sequence[Record]) -> None:
        global batches, inside
        batches += 1
        inside = True
        try:
            await process(self, records)
        finally:
            inside = False

    InquiryConsumer.process = counted  # type: ignore[method-assign]
    asyncio.run(with_store(a.store, a.n, None, a.max_batch))
    total = sum(counts.values())
    print(
        f"{a.store}: {a.n} inquiries in {batches} batches (≤ {a.max_batch}): "
        f"{total / batches:.1f} statements per batch"
    )
    for label, n in counts.most_common():
        print(f"  {n / batches:6.2f}  {label}")


if __name__ == "__main__":
    main()
