"""member load: each member's open leads, pending first contacts and daily assignments,
kept by triggers

Assignment (crm_store.intake.load_teams, every consumer batch and every watcher pass)
read a member's load with three GROUP BY counts over `lead` and `activity`, which
grew with the store: at 1M open leads most of a batch's time went there (issue 11).
Now `member_load` (open leads, planned first contacts) and `member_day_load` (leads
assigned per UTC day) are kept exact by triggers in the same statement that inserts,
updates or deletes a lead or an activity, whatever code path runs it, and assignment
reads one row per member.

Every trigger turns the changed rows into signed deltas (-1 for the old row, +1 for the
new one), sums them per member (per member and day) and adds the non-zero sums with an
upsert. On PostgreSQL the triggers are per statement (transition tables), so a batch of
500 leads costs one upsert per member, and the upserts go in member order: two
writers that touch several members' rows take them in the same order and cannot
deadlock on them. SQLite has one writer at a time and only row triggers.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 14:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0019"
# Chained on 0018, the last migration on main when this was written.
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "('new', 'in_progress')"
PENDING = "status = 'planned' AND is_first_contact = true"
# The UTC day of `assigned_at`: SQLite stores UTC timestamps as naive text.
SQLITE_DAY = "date(assigned_at)"
POSTGRESQL_DAY = "CAST(assigned_at AT TIME ZONE 'UTC' AS date)"

LEAD_COLUMNS = ("assignee_id", "status", "assigned_at")
ACTIVITY_COLUMNS = ("assignee_id", "status", "is_first_contact")


def lead_upserts(deltas: str, day: str) -> list[str]:
    """Add the signed `deltas` (assignee_id, status, assigned_at, n) of leads."""
    return [
        f"""INSERT INTO member_load (user_id, open_leads, pending_first_contacts)
        SELECT assignee_id, sum(n), 0 FROM ({deltas}) AS d
        WHERE assignee_id IS NOT NULL AND status IN {OPEN}
        GROUP BY assignee_id HAVING sum(n) <> 0 ORDER BY assignee_id
        ON CONFLICT (user_id) DO UPDATE SET open_leads = member_load.open_leads + excluded.open_leads""",
        f"""INSERT INTO member_day_load (user_id, day, assigned)
        SELECT assignee_id, {day}, sum(n) FROM ({deltas}) AS d
        WHERE assignee_id IS NOT NULL AND assigned_at IS NOT NULL
        GROUP BY assignee_id, {day} HAVING sum(n) <> 0 ORDER BY assignee_id, {day}
        ON CONFLICT (user_id, day) DO UPDATE SET assigned = member_day_load.assigned + excluded.assigned""",
    ]


def activity_upserts(deltas: str) -> list[str]:
    """Add the signed `deltas` (assignee_id, status, is_first_contact, n) of activities."""
    return [
        f"""INSERT INTO member_load (user_id, open_leads, pending_first_contacts)
        SELECT assignee_id, 0, sum(n) FROM ({deltas}) AS d
        WHERE assignee_id IS NOT NULL AND {PENDING}
        GROUP BY assignee_id HAVING sum(n) <> 0 ORDER BY assignee_id
        ON CONFLICT (user_id) DO UPDATE
        SET pending_first_contacts = member_load.pending_first_contacts + excluded.pending_first_contacts"""
    ]


def _row(alias: str, columns: Sequence[str], n: int) -> str:
    picked = ", ".join(f"{alias}.{c} AS {c}" for c in columns)
    return f"SELECT {picked}, {n} AS n"


def _changed(columns: Sequence[str]) -> str:
    return " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)


def _upserts(table: str, deltas: str, day: str) -> list[str]:
    return lead_upserts(deltas, day) if table == "lead" else activity_upserts(deltas)


def sqlite_triggers() -> list[str]:
    out = []
    for table, columns, counted in (
        ("lead", LEAD_COLUMNS, "{r}.assignee_id IS NOT NULL"),
        (
            "activity",
            ACTIVITY_COLUMNS,
            "{r}.assignee_id IS NOT NULL AND {r}." + PENDING.replace(" AND ", " AND {r}."),
        ),
    ):
        # A row that counts nowhere skips the trigger's body.
        inserted = counted.format(r="NEW")
        deleted = counted.format(r="OLD")
        bodies = {
            "insert": (f"AFTER INSERT ON {table} WHEN {inserted}", _row("NEW", columns, 1)),
            "update": (
                f"AFTER UPDATE OF {', '.join(columns)} ON {table} WHEN {_changed(columns)}",
                f"{_row('OLD', columns, -1)} UNION ALL {_row('NEW', columns, 1)}",
            ),
            "delete": (f"AFTER DELETE ON {table} WHEN {deleted}", _row("OLD", columns, -1)),
        }
        for event, (when, deltas) in bodies.items():
            body = "; ".join(_upserts(table, deltas, SQLITE_DAY))
            out.append(f"CREATE TRIGGER member_load_{table}_{event} {when} BEGIN {body}; END")
    return out


def _pg_rows(source: str, columns: Sequence[str], n: int) -> str:
    return f"SELECT {', '.join(columns)}, {n} AS n FROM {source}"


def postgresql_triggers() -> list[str]:
    out = []
    for table, columns in (("lead", LEAD_COLUMNS), ("activity", ACTIVITY_COLUMNS)):
        # Transition tables rule out `UPDATE OF <columns>`: an update that changes none
        # of them sums to zero per member and upserts nothing, so it takes no lock.
        events = {
            "insert": ("INSERT", "NEW TABLE AS new_rows", _pg_rows("new_rows", columns, 1)),
            "update": (
                "UPDATE",
                "OLD TABLE AS old_rows NEW TABLE AS new_rows",
                f"{_pg_rows('old_rows', columns, -1)} UNION ALL {_pg_rows('new_rows', columns, 1)}",
            ),
            "delete": ("DELETE", "OLD TABLE AS old_rows", _pg_rows("old_rows", columns, -1)),
        }
        for event, (verb, referencing, deltas) in events.items():
            name = f"member_load_{table}_{event}"
            body = ";\n".join(_upserts(table, deltas, POSTGRESQL_DAY))
            out.append(
                f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN {body}; RETURN NULL; END $$"""
            )
            out.append(
                f"""CREATE TRIGGER {name} AFTER {verb} ON {table} REFERENCING {referencing}
                FOR EACH STATEMENT EXECUTE FUNCTION {name}()"""
            )
    return out


def backfill(day: str) -> list[str]:
    """The stored figures from the rows as they are (also `crm_store.member_load.repair`)."""
    return [
        f"""INSERT INTO member_load (user_id, open_leads, pending_first_contacts)
        SELECT user_id, sum(open_leads), sum(pending) FROM (
          SELECT assignee_id AS user_id, count(*) AS open_leads, 0 AS pending FROM lead
          WHERE assignee_id IS NOT NULL AND status IN {OPEN} GROUP BY assignee_id
          UNION ALL
          SELECT assignee_id, 0, count(*) FROM activity
          WHERE assignee_id IS NOT NULL AND {PENDING} GROUP BY assignee_id
        ) AS counted GROUP BY user_id""",
        f"""INSERT INTO member_day_load (user_id, day, assigned)
        SELECT assignee_id, {day}, count(*) FROM lead
        WHERE assignee_id IS NOT NULL AND assigned_at IS NOT NULL
        GROUP BY assignee_id, {day}""",
    ]


def upgrade() -> None:
    op.create_table(
        "member_load",
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("open_leads", sa.Integer(), nullable=False),
        sa.Column("pending_first_contacts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_member_load")),
    )
    op.create_table(
        "member_day_load",
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("assigned", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "day", name=op.f("pk_member_day_load")),
    )
    is_sqlite = op.get_bind().dialect.name == "sqlite"
    for sql in backfill(SQLITE_DAY if is_sqlite else POSTGRESQL_DAY):
        op.execute(sql)
    for sql in sqlite_triggers() if is_sqlite else postgresql_triggers():
        op.execute(sql)


def downgrade() -> None:
    is_sqlite = op.get_bind().dialect.name == "sqlite"
    for table in ("lead", "activity"):
        for event in ("insert", "update", "delete"):
            name = f"member_load_{table}_{event}"
            if is_sqlite:
                op.execute(f"DROP TRIGGER IF EXISTS {name}")
            else:
                op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
                op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_table("member_day_load")
    op.drop_table("member_load")
