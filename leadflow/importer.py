"""`leadflow import FILE`: one inquiry per spreadsheet row, published on the `import` channel.

Reads a `.csv` or `.xlsx` file (`connectors.spreadsheet` detects encoding, delimiter
and columns), writes each good row to the edge journal (`<data_dir>/journal.sqlite3`,
as every connector does), publishes the rows with the journal's relay, and reports: a
progress bar on stderr, then rows published and rows rejected with their line
numbers and reasons, and a CSV of the rejected rows to fix and import again.
Re-importing a file is harmless: a row's idempotency key is the file's hash and its
row number. The broker is the configured one, else the one a running `leadflow up`
advertises in `<data_dir>/broker` (written by the runtime, see `leadflow.broker.advertised_broker`).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from connectors.journal import EdgeJournal, JournalBound
from connectors.publisher import InquirySink, Publisher, PublishFailed
from connectors.relay import Relay, RelayConfig
from connectors.spreadsheet import (
    RejectedRow,
    SheetRow,
    file_sha256,
    normalize_row,
    parse_mapping_option,
    read_rows,
    resolve_mapping,
)
from ingest.contract import Inquiry, Topics
from leadflow.broker import bootstrap_for
from leadflow.settings import Settings

CHUNK = 500  # rows journalled together (one group commit)


@dataclass(slots=True)
class ImportReport:
    file: Path
    published: int = 0
    rejected: list[tuple[RejectedRow, SheetRow]] = field(default_factory=list)
    rejected_file: Path | None = None
    keys: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{self.file.name}: {self.published} rows published, {len(self.rejected)} rejected"]
        out.extend(f"  row {r.row_number}: {r.reason}" for r, _ in self.rejected)
        if self.rejected_file is not None:
            out.append(f"rejected rows written to {self.rejected_file}")
        return out


class ProgressBar:
    """A one-line `[#####-----] 50/100 rows` bar, redrawn in place on a terminal."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO) -> None:
        self._total = max(total, 1)
        self._stream = stream
        self._shown = -1

    def update(self, done: int) -> None:
        filled = self.WIDTH * done // self._total
        if filled == self._shown and done != self._total:
            return
        self._shown = filled
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self._stream.write(f"\r[{bar}] {done}/{self._total} rows")
        self._stream.flush()

    def close(self) -> None:
        self._stream.write("\n")
        self._stream.flush()


async def import_file(
    path: Path,
    publisher: InquirySink,
    *,
    team: str | None = None,
    mapping: dict[str, str] | None = None,
    rejected_path: Path | None = None,
    default_region: str = "RU",
    progress: TextIO | None = None,
) -> ImportReport:
    """Publish every good row of `path`; raises `PublishFailed` if it cannot be recorded.

    Raises `ValueError` (a sentence) when the file cannot be read or mapped.
    """
    headers, row_iter = read_rows(path)
    rows = list(row_iter)
    columns = resolve_mapping(headers, mapping)
    file_hash = file_sha256(path)
    received_at = datetime.now(UTC)
    report = ImportReport(path)
    bar = ProgressBar(len(rows), progress) if progress is not None else None
    chunk: list[Inquiry] = []

    async def flush() -> None:
        await asyncio.gather(*(publisher.publish(i) for i in chunk))
        report.published += len(chunk)
        report.keys.extend(i.idempotency_key for i in chunk)
        chunk.clear()

    try:
        for done, row in enumerate(rows, start=1):
            outcome = normalize_row(
                row.values,
                mapping=columns,
                file_hash=file_hash,
                row_number=row.number,
                received_at=received_at,
                team=team,
                default_region=default_region,
            )
            if isinstance(outcome, Inquiry):
                chunk.append(outcome)
                if len(chunk) >= CHUNK:
                    await flush()
            else:
                report.rejected.append((outcome, row))
            if bar is not None:
                bar.update(done)
        await flush()
    finally:
        if bar is not None:
            bar.close()
    if report.rejected:
        report.rejected_file = rejected_path or path.with_suffix(".rejected.csv")
        write_rejected(report.rejected_file, headers, report.rejected)
    return report


def write_rejected(
    path: Path, headers: list[str], rejected: list[tuple[RejectedRow, SheetRow]]
) -> None:
    """A CSV (UTF-8 with BOM, so Excel reads Cyrillic) of rows to fix: row, reason, cells."""
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["row", "reason", *headers])
        for reason, row in rejected:
            cells = [row.values.get(h, "") for h in headers]
            writer.writerow([reason.row_number, reason.reason, *cells])


async def run_import(
    settings: Settings, args: argparse.Namespace, *, out: TextIO | None = None
) -> int:
    """The `leadflow import` command; returns the exit code."""
    out = out or sys.stdout
    err = sys.stderr
    bootstrap = bootstrap_for(settings)
    if bootstrap is None:
        print(
            "leadflow: no broker to publish to: set LEADFLOW_KAFKA__BOOTSTRAP_SERVERS "
            "or start 'leadflow up' first.",
            file=err,
        )
        return 1
    try:
        mapping = parse_mapping_option(args.mapping or "")
    except ValueError as exc:
        print(f"leadflow: bad --mapping: {exc}", file=err)
        return 2
    topics = Topics(settings.kafka.topic_prefix)
    async with Publisher(
        bootstrap, topics, timeout_s=settings.kafka.produce_timeout_s, client_id="leadflow-import"
    ) as publisher:
        reachable = await publisher.ping()
    if not reachable:
        print(f"leadflow: the broker at {bootstrap} is not reachable; nothing imported.", file=err)
        return 1
    j = settings.journal
    async with EdgeJournal(
        j.file(settings.data_dir),
        bound=JournalBound(max_bytes=j.max_bytes, max_age_s=j.max_age_s),
        group_linger_s=j.group_linger_ms / 1000,
    ) as journal:
        relay = Relay(
            journal,
            RelayConfig(
                bootstrap,
                topics,
                batch=j.relay_batch,
                timeout_s=settings.kafka.produce_timeout_s,
                partitions=settings.kafka.partitions,
                replication_factor=settings.kafka.replication_factor,
                client_id="leadflow-import",
            ),
        )
        try:
            report = await import_file(
                args.file,
                journal,
                team=args.team,
                mapping=mapping,
                rejected_path=args.rejected,
                default_region=settings.ingest.default_region,
                progress=err,
            )
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            print(f"leadflow: cannot import {args.file}: {exc}", file=err)
            return 2
        except PublishFailed as exc:
            print(
                f"leadflow: rows could not be recorded ({exc}); run the same import "
                "again: rows already recorded are not duplicated.",
                file=err,
            )
            return 1
        try:
            # Rows of an earlier run of this file that are still held go out again too.
            await journal.unpublish(report.keys)
            await relay.drain(within=max(30.0, 10 * settings.kafka.produce_timeout_s))
        except PublishFailed as exc:
            print(
                f"leadflow: the rows are recorded in {journal.path} but the broker did not "
                f"take them ({exc}); 'leadflow up' or 'leadflow serve connectors' with this "
                "data directory publishes them, or run the same import again.",
                file=err,
            )
            return 1
    print("\n".join(report.lines()), file=out)
    return 0
