"""member load row triggers: SQLite's member-load triggers add one row's delta directly

Migration 0019 wrote one trigger body for both stores: turn the changed rows into
signed deltas in a derived table, GROUP BY member (member and day), keep the non-zero
sums and upsert them. On PostgreSQL the triggers are per statement and that shape sums
a whole batch; SQLite has only row triggers, so it ran the derived table, the grouping
and the sort for a single row, on every lead and activity the consumer inserts
(issue 11). Here each SQLite trigger upserts its row's +1 or -1 itself, under the same
conditions, so the stored figures come out the same: an update adds nothing where the
old and the new row count for the same member (and day), as the zero sum did.

Measured with executemany of 20 000 consumer-shaped rows in batches of 500 on a
migrated store (CPU per row, median of 3 interleaved rounds): a lead INSERT from 75 to
66 µs, an activity INSERT from 65 to 60 µs, updates and deletes 5 to 11 µs cheaper.
About 24 µs of what is left on a lead is not the bodies but SQLite's statement
journal, which any INSERT trigger on a table with abortable constraints turns on.

PostgreSQL's statement-level triggers stay as 0019 made them.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 17:00:00.000000
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from alembic import op


revision: str = "0021"
# Chained on 0020, the last migration on main when this was written.
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "('new', 'in_progress')"
TABLES = ("lead", "activity")
EVENTS = ("insert", "update", "delete")


def _open_lead(r: str) -> str:
    return f"{r}.assignee_id IS NOT NULL AND {r}.status IN {OPEN}"


def _assigned_lead(r: str) -> str:
    return f"{r}.assignee_id IS NOT NULL AND {r}.assigned_at IS NOT NULL"


def _pending(r: str) -> str:
    return f"{r}.assignee_id IS NOT NULL AND {r}.status = 'planned' AND {r}.is_first_contact = true"


def _add_open(member: str, n: int, where: str) -> str:
    return f"""INSERT INTO member_load (user_id, open_leads, pending_first_contacts)
        SELECT {member}, {n}, 0 WHERE {where}
        ON CONFLICT (user_id) DO UPDATE SET open_leads = member_load.open_leads + ({n})"""


def _add_day(r: str, n: int, where: str) -> str:
    return f"""INSERT INTO member_day_load (user_id, day, assigned)
        SELECT {r}.assignee_id, date({r}.assigned_at), {n} WHERE {where}
        ON CONFLICT (user_id, day) DO UPDATE SET assigned = member_day_load.assigned + ({n})"""


def _add_pending(member: str, n: int, where: str) -> str:
    return f"""INSERT INTO member_load (user_id, open_leads, pending_first_contacts)
        SELECT {member}, 0, {n} WHERE {where}
        ON CONFLICT (user_id) DO UPDATE
        SET pending_first_contacts = member_load.pending_first_contacts + ({n})"""


def _unless_open_in(b: str, a: str) -> str:
    """`a`'s open lead adds its delta unless `b` is an open lead of the same member."""
    return f"NOT ({_open_lead(b)} AND {b}.assignee_id IS {a}.assignee_id)"


def _unless_assigned_in(b: str, a: str) -> str:
    """`a`'s assignment adds its delta unless `b` is one of the same member and day."""
    same_day = f"date({b}.assigned_at) IS date({a}.assigned_at)"
    return f"NOT ({_assigned_lead(b)} AND {b}.assignee_id IS {a}.assignee_id AND {same_day})"


def _lead_bodies() -> dict[str, list[str]]:
    # On an update the old row's -1 and the new row's +1 cancel when both count for the
    # same member (and day): neither is added, as 0019's zero sum added nothing.
    return {
        "insert": [
            _add_open("NEW.assignee_id", 1, _open_lead("NEW")),
            _add_day("NEW", 1, _assigned_lead("NEW")),
        ],
        "update": [
            _add_open(
                "OLD.assignee_id", -1, f"{_open_lead('OLD')} AND {_unless_open_in('NEW', 'OLD')}"
            ),
            _add_open(
                "NEW.assignee_id", 1, f"{_open_lead('NEW')} AND {_unless_open_in('OLD', 'NEW')}"
            ),
            _add_day("OLD", -1, f"{_assigned_lead('OLD')} AND {_unless_assigned_in('NEW', 'OLD')}"),
            _add_day("NEW", 1, f"{_assigned_lead('NEW')} AND {_unless_assigned_in('OLD', 'NEW')}"),
        ],
        "delete": [
            _add_open("OLD.assignee_id", -1, _open_lead("OLD")),
            _add_day("OLD", -1, _assigned_lead("OLD")),
        ],
    }


def _activity_bodies() -> dict[str, list[str]]:
    def unless_pending_in(b: str, a: str) -> str:
        return f"NOT ({_pending(b)} AND {b}.assignee_id IS {a}.assignee_id)"

    return {
        "insert": [_add_pending("NEW.assignee_id", 1, _pending("NEW"))],
        "update": [
            _add_pending(
                "OLD.assignee_id", -1, f"{_pending('OLD')} AND {unless_pending_in('NEW', 'OLD')}"
            ),
            _add_pending(
                "NEW.assignee_id", 1, f"{_pending('NEW')} AND {unless_pending_in('OLD', 'NEW')}"
            ),
        ],
        "delete": [_add_pending("OLD.assignee_id", -1, _pending("OLD"))],
    }


def _whens(table: str) -> dict[str, str]:
    """When each trigger runs at all: 0019's conditions, unchanged."""
    columns = (
        ("assignee_id", "status", "assigned_at")
        if table == "lead"
        else ("assignee_id", "status", "is_first_contact")
    )
    counted = (lambda r: f"{r}.assignee_id IS NOT NULL") if table == "lead" else _pending
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)
    return {
        "insert": f"AFTER INSERT ON {table} WHEN {counted('NEW')}",
        "update": f"AFTER UPDATE OF {', '.join(columns)} ON {table} WHEN {changed}",
        "delete": f"AFTER DELETE ON {table} WHEN {counted('OLD')}",
    }


def sqlite_triggers() -> list[str]:
    out = []
    for table, bodies in (("lead", _lead_bodies()), ("activity", _activity_bodies())):
        whens = _whens(table)
        for event in EVENTS:
            body = "; ".join(bodies[event])
            out.append(
                f"CREATE TRIGGER member_load_{table}_{event} {whens[event]} BEGIN {body}; END"
            )
    return out


def _previous_sqlite_triggers() -> list[str]:
    """0019's SQLite triggers, from 0019 itself (a revision file is not a package module)."""
    path = Path(__file__).with_name("0019_member_load.py")
    spec = importlib.util.spec_from_file_location("_leadflow_migration_0019", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    triggers: list[str] = module.sqlite_triggers()
    return triggers


def _replace(triggers: list[str]) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        for event in EVENTS:
            op.execute(f"DROP TRIGGER IF EXISTS member_load_{table}_{event}")
    for sql in triggers:
        op.execute(sql)


def upgrade() -> None:
    _replace(sqlite_triggers())


def downgrade() -> None:
    _replace(_previous_sqlite_triggers())
