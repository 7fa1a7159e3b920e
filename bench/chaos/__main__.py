"""Fault trials: does LeadFlow keep every inquiry it answered 202 for, exactly once?

`python -m bench.chaos` (`make chaos`) runs every trial with the counts of issue 9;
`--quick` runs three reduced ones (3 kills of `leadflow up`, the broker restarted
empty, the poison inputs) for CI. Each trial sends unique web-form posts at a steady
rate (default 150/s) across its fault, stops, waits up to `--settle-seconds` for
every accepted post to become a lead, and counts the store by SQL:

- up-kill: `leadflow up` (SQLite, embedded Tansu) killed -9 as a process group, 20 times
  (quick: 3), restarted each time on the same data_dir and database;
- embedded-broker-kill: `leadflow up` (SQLite) whose embedded Tansu is killed -9 three
  times; `leadflow up` starts a new, empty one on the same port. It sends through an
  SMTP sink of the trial's, which counts every acknowledgement and notice: the lead
  events and outbound messages the lost broker held have no edge journal;
- serve-kill: external Tansu + PostgreSQL, `serve ingest|connectors|console` as three
  processes, each killed -9 once and restarted;
- broker-frozen / broker-unreachable / broker-empty: `leadflow up` (SQLite) on an external
  Tansu behind a TCP proxy; Tansu SIGSTOPped, the proxy dropping and refusing
  connections, or Tansu killed and replaced by an empty one; 60 s each (quick: 30 s);
- db-refusing: `leadflow up` on PostgreSQL whose database refuses connections for 30 s;
- poison: one hostile input of each kind (NUL, overlong fields and headers, deep JSON,
  invalid UTF-8, a long X-Forwarded-For entry behind a trusted proxy, a 400-char company
  on a manual lead, a manager's `Europe/Moskow` time zone and `25:00` hours), then
  1,000 normal posts, all of which must become leads (PostgreSQL).

Figures per trial: posts sent, accepted (202), refused (any other status), unanswered
(no HTTP answer: refused connection, reset, timeout), leads for accepted posts, lost
(accepted without a lead), duplicated (a submission stored as more than one lead or
inquiry record), 503s that became leads anyway, posts 202 during the fault, 5xx
answers, and the seconds from the end of the load until every accepted post was a lead;
with the mail sink, the mail lost and sent twice and the leads whose notice was never
planned. The load reads as a real inquiry (a distinct X-Forwarded-For per post, a
business message), so its leads are judged, assigned and acknowledged, not junked.

Exit code: 0 when every trial lost 0 and duplicated 0 accepted inquiries, the poison
trial saw no 5xx and no mail was lost or sent twice; 1 when a trial broke one of
those; 2 when a trial could not run.
Results: a table on stdout, JSON in bench/results/chaos.json, each trial's process logs
in bench/results/chaos-logs/. Only loopback addresses and throwaway stores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from bench.chaos.trials import TRIALS, Config
from bench.e2e import log, machine_info, now_utc, write_report

RESULTS = Path(__file__).resolve().parent.parent / "results"
QUICK_TRIALS = ("up-kill", "broker-empty", "poison")


def verdict(row: dict[str, Any]) -> list[str]:
    """Why this row fails the policy (empty: it passes)."""
    why = []
    if row.get("error"):
        why.append("could not run")
    if row.get("lost", 0):
        why.append(f"lost {row['lost']}")
    if row.get("duplicated", 0):
        why.append(f"duplicated {row['duplicated']}")
    if row.get("trial") == "poison" and row.get("server_errors_5xx", 0):
        why.append(f"{row['server_errors_5xx']} server errors")
    for key, what in MAIL_FAILURES:
        if row.get(key, 0):
            why.append(f"{what} {row[key]}")
    return why


# A trial with a mail sink (`bench.chaos.mail`): what the store asked to send and never
# arrived, what arrived twice, leads whose notice was never planned.
MAIL_FAILURES = (
    ("mail_lost", "mail lost"),
    ("mail_twice", "mail sent twice"),
    ("leads_without_notice", "leads without a notice"),
)


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v)


def print_table(rows: list[dict[str, Any]]) -> None:
    cols = [
        ("trial", "trial", 20),
        ("sent", "sent", 7),
        ("202", "accepted", 7),
        ("refused", "refused", 8),
        ("no ans", "unanswered", 7),
        ("leads", "leads", 7),
        ("lost", "lost", 6),
        ("dup", "duplicated", 5),
        ("503→lead", "refused_but_stored", 9),
        ("5xx", "server_errors_5xx", 5),
        ("fault 202", "during_fault", 11),
        ("settle s", "settle_s", 9),
    ]
    head = "".join(f"{h:<{w}}" if i == 0 else f"{h:>{w}}" for i, (h, _, w) in enumerate(cols))
    print(head)
    print("-" * len(head))
    for row in rows:
        cells = []
        for i, (_, key, width) in enumerate(cols):
            value = row.get(key)
            if key == "during_fault" and isinstance(value, dict):
                value = f"{value['accepted']}/{value['sent']}"
            if key == "settle_s" and row.get("error") is None and value is None:
                value = f">{row.get('settle_bound_s', 0):g}"
            text = _cell(value)
            cells.append(f"{text:<{width}}" if i == 0 else f"{text:>{width}}")
        print("".join(cells) + ("  " + "; ".join(verdict(row)) if verdict(row) else "  ok"))
    print()
    for row in rows:
        if row.get("error"):
            print(f"{row['trial']}: could not run: {row['error']}")
        for note in row.get("notes", []):
            print(f"{row['trial']}: {note}")
        for item in row.get("hostile", []):
            print(f"{row['trial']}: {item['kind']}: HTTP {item['status']}")
        if "mail_expected" in row:
            print(
                f"{row['trial']}: mail: {row['mail_expected']} acknowledgements and notices "
                f"asked for, {row['mail_lost']} lost, {row['mail_twice']} sent twice, "
                f"{row['leads_without_notice']} leads without a notice; all arrived "
                f"{_cell(row['mail_settled_s'])} s after the leads settled"
            )


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, Config, list[str]]:
    p = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK_TRIALS)}, reduced")
    p.add_argument("--trials", help=f"comma list of {', '.join(TRIALS)}")
    p.add_argument("--rate", type=float, default=150.0, help="web-form posts per second")
    p.add_argument("--kills", type=int, help="kill -9 of `leadflow up` (20; quick 3)")
    p.add_argument("--broker-outage-seconds", type=float, help="broker fault length (60; quick 30)")
    p.add_argument("--db-outage-seconds", type=float, default=30.0)
    # Above the edge journal's republish interval (120 s): an entry the consumer missed
    # is published again then, so a shorter bound would count a late lead as lost.
    p.add_argument("--settle-seconds", type=float, default=180.0, help="bound on the final wait")
    p.add_argument("--poison-normal", type=int, default=1000, help="normal posts after poison")
    p.add_argument("--seed", type=int, default=9, help="for the gaps between kills")
    p.add_argument(
        "--pg-admin-dsn",
        default=os.environ.get(
            "BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="where to CREATE/DROP the trials' databases (loopback only)",
    )
    p.add_argument("--out", type=Path, default=RESULTS / "chaos.json")
    p.add_argument(
        "--keep-workspaces",
        action="store_true",
        help="keep each trial's store and journal beside its logs (after the processes stop)",
    )
    p.add_argument(
        "--log-level",
        default="WARNING",
        choices=("DEBUG", "INFO", "WARNING"),
        help="LeadFlow's log level in each trial's process logs",
    )
    a = p.parse_args(argv)
    names = [t.strip() for t in a.trials.split(",")] if a.trials else None
    names = names or list(QUICK_TRIALS if a.quick else TRIALS)
    for n in names:
        if n not in TRIALS:
            p.error(f"unknown trial {n!r}")
    cfg = Config(
        rate=a.rate,
        kills=a.kills if a.kills is not None else (3 if a.quick else 20),
        kill_gap_s=(2.0, 5.0),
        broker_outage_s=a.broker_outage_seconds or (30.0 if a.quick else 60.0),
        db_outage_s=a.db_outage_seconds,
        settle_s=a.settle_seconds,
        poison_normal=a.poison_normal,
        pg_admin_dsn=a.pg_admin_dsn,
        logs_dir=a.out.parent / "chaos-logs",
        keep_workspaces=a.keep_workspaces,
        log_level=a.log_level,
        seed=a.seed,
    )
    return a, cfg, names


async def amain(cfg: Config, names: list[str], report: dict[str, Any], out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="leadflow-chaos-") as tmp:
        for name in names:
            log(f"trial {name}")
            t0 = time.monotonic()
            try:
                rows = await TRIALS[name](cfg, Path(tmp))
            except Exception as exc:  # report it and go on: the other trials still count
                traceback.print_exc()
                rows = [{"trial": name, "error": f"{type(exc).__name__}: {exc}"}]
            for row in rows:
                row["passed"] = not verdict(row)
                log(
                    f"{name}: {row.get('accepted', '-')} accepted, lost {row.get('lost', '-')}, "
                    f"duplicated {row.get('duplicated', '-')} ({time.monotonic() - t0:.0f} s)"
                )
            report["trials"].extend(rows)
            write_report(report, out)  # after each trial: a later failure keeps these


def main(argv: list[str] | None = None) -> int:
    a, cfg, names = parse_args(argv)
    started = time.monotonic()
    report: dict[str, Any] = {
        "started_at": now_utc().isoformat(),
        "machine": machine_info(),
        "options": {**vars(a), "out": str(a.out), "trials": names},
        "method": __doc__,
        "trials": [],
    }
    asyncio.run(amain(cfg, names, report, a.out))
    report["finished_at"] = now_utc().isoformat()
    report["wall_seconds"] = round(time.monotonic() - started, 1)
    failed = [r["trial"] for r in report["trials"] if not r["passed"]]
    report["passed"] = not failed
    write_report(report, a.out)
    print()
    print(
        f"LeadFlow fault trials, {report['machine']['nproc']} CPUs, "
        f"{cfg.rate:g} posts/s, settle bound {cfg.settle_s:g} s, "
        f"{report['wall_seconds']:.0f} s in all"
    )
    print_table(report["trials"])
    print(f"\nresults written to {a.out}")
    if any(r.get("error") for r in report["trials"]):
        print("FAILED: a trial could not run")
        return 2
    if failed:
        print(f"FAILED: {', '.join(failed)} lost or duplicated accepted inquiries, or saw 5xx")
        return 1
    print("PASSED: 0 lost, 0 duplicated in every trial; no 5xx on poison")
    return 0


if __name__ == "__main__":
    sys.exit(main())
