"""The `leadflow` command: up, serve, migrate, counters, topics create, schema."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from leadflow import collector, processes
from leadflow.logs import configure_logging, secret_values
from leadflow.roles import ALL_ROLES, Role
from leadflow.settings import Settings, load_settings

if TYPE_CHECKING:
    from leadflow.seed import Started

# The roles' code (aiohttp apps, the consumer, the store, the bot library: seconds of
# imports) is imported where a command needs it, not here: `leadflow up` in split mode
# starts its children before it imports what it prepares for them, so the imports of
# the three interpreters overlap (a restart after a crash answers sooner).

log = logging.getLogger("leadflow")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leadflow", description=__doc__)
    parser.add_argument("--config", type=Path, help="TOML settings file (env vars override it)")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run every role (embedded defaults), in one process or two")
    up.add_argument("--demo", action="store_true", help="seed demo team, form and admin token")
    up.add_argument(
        "--processes",
        choices=["auto", "one", "split"],
        help="one process, or the HTTP edge and the consumer in two; auto: two when two "
        "cores or more are available (default: the `processes` setting, auto)",
    )
    up.add_argument("--config", type=Path, dest="config_sub", help=argparse.SUPPRESS)
    serve = sub.add_parser("serve", help="run one role (or a few), for production")
    serve.add_argument("role", nargs="+", choices=[r.value for r in Role])
    serve.add_argument("--config", type=Path, dest="config_sub", help=argparse.SUPPRESS)
    # `leadflow up` in split mode applied the configuration before starting its children.
    serve.add_argument("--no-seed", action="store_true", help=argparse.SUPPRESS)
    # ... and hands its children their broker's address on stdin once it runs.
    serve.add_argument("--after-parent", action="store_true", help=argparse.SUPPRESS)
    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--config", type=Path, dest="config_sub", help=argparse.SUPPRESS)
    counters = sub.add_parser(
        "counters",
        help="check the counters' flags and the member loads against the rows, or repair them",
    )
    counters.add_argument("action", choices=["check", "repair"])
    counters.add_argument("--config", type=Path, dest="config_sub", help=argparse.SUPPRESS)
    topics = sub.add_parser("topics", help="manage Kafka topics")
    topics.add_argument("action", choices=["create"])
    topics.add_argument("--config", type=Path, dest="config_sub", help=argparse.SUPPRESS)
    sub.add_parser("schema", help="print the Inquiry JSON Schema")
    _import_arguments(sub.add_parser("import", help="one inquiry per row of a .csv/.xlsx"))
    return parser


def _import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="a .csv or .xlsx file, header in the first row")
    parser.add_argument("--team", help="the team that gets these leads (default: ingest's)")
    parser.add_argument(
        "--mapping",
        default="",
        help='override detected columns: "Column=field,..." (fields: name, phone, email, '
        "company, comment, source, subject, ignore)",
    )
    parser.add_argument(
        "--rejected", type=Path, help="where to write rejected rows (default FILE.rejected.csv)"
    )
    parser.add_argument("--config", type=Path, dest="config_sub", help=argparse.SUPPRESS)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "schema":
        from ingest.contract import inquiry_json_schema

        print(json.dumps(inquiry_json_schema(), indent=2, ensure_ascii=False))
        return 0
    if getattr(args, "after_parent", False) and not processes.take_handover(sys.stdin):
        return 0  # the parent stopped (or died) before its children could start
    config = getattr(args, "config_sub", None) or args.config
    try:
        settings = load_settings(config)
    except (FileNotFoundError, ValueError) as exc:
        print(f"leadflow: bad settings: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, secrets=secret_values(settings))
    if args.command == "migrate":
        from crm_store.migrate import upgrade

        upgrade(settings.database.url)
        print(f"database at {_redacted(settings.database.url)} is up to date")
        return 0
    if args.command == "counters":
        return asyncio.run(_counters(settings, repair=args.action == "repair"))
    if args.command == "topics":
        return asyncio.run(_create_topics(settings))
    if args.command == "import":
        from leadflow import importer

        collector.tune()
        return asyncio.run(importer.run_import(settings, args))
    if args.command == "up":
        roles = ALL_ROLES
        split = processes.wants_split(
            args.processes or settings.processes, processes.available_cpus()
        )
    else:
        roles = frozenset(Role(r) for r in args.role)
        split = False
    serving = _serve(
        settings,
        roles,
        demo=getattr(args, "demo", False),
        seed=not getattr(args, "no_seed", False),
        split_config=config if split else None,
        split=split,
    )
    collector.tune()
    return asyncio.run(serving)


async def _counters(settings: Settings, *, repair: bool) -> int:
    """Exit 1 when `check` finds drifted flags or member loads, so a cron job or a
    probe can alert."""
    from crm_store import counters, member_load
    from crm_store.database import open_database

    async with (
        open_database(settings.database.url) as db,
        db.sessions() as session,
        session.begin(),
    ):
        found = await (counters.repair(session) if repair else counters.drift(session))
        loads = await (member_load.repair(session) if repair else member_load.drift(session))
    verb = "repaired" if repair else "wrong"
    print(f"counters: {verb} flags on {found['lead']} leads and {found['activity']} activities")
    print(f"member loads: {verb} {loads['members']} member rows and {loads['days']} day rows")
    return 1 if not repair and any([*found.values(), *loads.values()]) else 0


async def _create_topics(settings: Settings) -> int:
    from ingest.contract import Topics
    from leadflow.broker import create_topics

    if not settings.kafka.bootstrap_servers:
        print("leadflow: set LEADFLOW_KAFKA__BOOTSTRAP_SERVERS", file=sys.stderr)
        return 2
    created = await create_topics(
        settings.kafka.bootstrap_servers,
        Topics(settings.kafka.topic_prefix),
        partitions=settings.kafka.partitions,
        replication_factor=settings.kafka.replication_factor,
    )
    print("created: " + (", ".join(created) if created else "nothing, all topics exist"))
    return 0


async def _serve(
    settings: Settings,
    roles: frozenset[Role],
    *,
    demo: bool,
    seed: bool = True,
    split: bool = False,
    split_config: Path | None = None,
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def announce(started: Started) -> None:
        # Every role is up: what is alive now lives as long as the process.
        collector.settle()
        mode = " (edge and ingest in separate processes)" if split else ""
        print(f"LeadFlow is running: {', '.join(sorted(roles))}{mode}", flush=True)
        print(f"  http:     {started.http_url}", flush=True)
        kind = "embedded Tansu, memory only" if started.embedded_broker else "external"
        print(f"  kafka:    {started.bootstrap_servers} ({kind})", flush=True)
        print(f"  database: {_redacted(settings.database.url)}", flush=True)
        for line in started.seed.lines():
            print(f"  {line}", flush=True)
        if started.seed.admin_token:
            token_file = settings.data_dir / "admin-token"
            print(f"  admin API token (shown once, saved to {token_file}):", flush=True)
            print(f"    {started.seed.admin_token}", flush=True)
        if Role.CONNECTORS in roles:
            for form in started.seed.forms:
                print(f"  form:     {started.http_url}/forms/{form}", flush=True)

    try:
        if split:
            await processes.run_split(
                settings, config=split_config, demo=demo, stop=stop, on_started=announce
            )
        else:
            from leadflow import runtime

            await runtime.run(settings, roles, demo=demo, stop=stop, on_started=announce, seed=seed)
    except RuntimeError as exc:
        print(f"leadflow: {exc}", file=sys.stderr)
        return 1
    except Exception:  # a role failed for good: exit non-zero so the supervisor restarts us
        log.exception("LeadFlow stopped on an error")
        return 1
    return 0


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
