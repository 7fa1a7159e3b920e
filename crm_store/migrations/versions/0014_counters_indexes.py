"""counters: two flags kept by triggers, and indexes the counters count

`lead.manager_touched` (some done, non-inbound activity on the lead) and, on planned
activities, `activity.lead_open` (the activity's lead is new or in progress) are kept exact by
triggers in the same statement that changes an activity or a lead's status, whatever
code path runs it. The counters then count entries of covering indexes instead
of joining leads and activities with GROUP BY at read time (issue 11).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 04:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0014"
# Chained on 0013, the last migration on main when this was written.
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The same text as in crm_store.counters: SQLite only uses a partial index when the
# query repeats its WHERE terms.
FIRST_CONTACT_WHERE = "is_first_contact = true"

OPEN = "('new', 'in_progress')"
TOUCHING = "status = 'done' AND direction <> 'inbound'"
# Whether some done, non-inbound activity is on `lead` (correlated on the outer row).
TOUCHED = f"EXISTS (SELECT 1 FROM activity a WHERE a.lead_id = lead.id AND a.{TOUCHING.replace(' AND ', ' AND a.')})"


def _lead_open(lead_id: str) -> str:
    return f"EXISTS (SELECT 1 FROM lead l WHERE l.id = {lead_id} AND l.status IN {OPEN})"


def _backfill() -> list[str]:
    return [
        f"UPDATE lead SET manager_touched = {TOUCHED}",
        f"UPDATE activity SET lead_open = {_lead_open('activity.lead_id')}"
        " WHERE status = 'planned'",
    ]


def _retouch(ids: str) -> str:
    return (
        f"UPDATE lead SET manager_touched = NOT manager_touched"
        f" WHERE lead.id IN ({ids}) AND manager_touched <> {TOUCHED}"
    )


def sqlite_triggers() -> list[str]:
    return [
        f"""CREATE TRIGGER counters_activity_open AFTER INSERT ON activity
        WHEN NEW.status = 'planned' AND NEW.lead_open IS NOT {_lead_open('NEW.lead_id')}
        BEGIN UPDATE activity SET lead_open = NOT lead_open WHERE id = NEW.id; END""",
        f"""CREATE TRIGGER counters_activity_moved AFTER UPDATE OF lead_id, status ON activity
        WHEN NEW.status = 'planned'
          AND (OLD.lead_id IS NOT NEW.lead_id OR OLD.status IS NOT NEW.status)
        BEGIN UPDATE activity SET lead_open = {_lead_open('NEW.lead_id')} WHERE id = NEW.id; END""",
        f"""CREATE TRIGGER counters_activity_touch AFTER INSERT ON activity
        WHEN NEW.{TOUCHING.replace(' AND ', ' AND NEW.')}
        BEGIN UPDATE lead SET manager_touched = true
        WHERE id = NEW.lead_id AND manager_touched = false; END""",
        f"""CREATE TRIGGER counters_activity_retouch
        AFTER UPDATE OF status, direction, lead_id ON activity
        WHEN OLD.status IS NOT NEW.status OR OLD.direction IS NOT NEW.direction
          OR OLD.lead_id IS NOT NEW.lead_id
        BEGIN {_retouch('OLD.lead_id, NEW.lead_id')}; END""",
        f"""CREATE TRIGGER counters_activity_untouch AFTER DELETE ON activity
        WHEN OLD.{TOUCHING.replace(' AND ', ' AND OLD.')}
        BEGIN {_retouch('OLD.lead_id')}; END""",
        f"""CREATE TRIGGER counters_lead_status AFTER UPDATE OF status ON lead
        WHEN (OLD.status IN {OPEN}) IS NOT (NEW.status IN {OPEN})
        BEGIN UPDATE activity SET lead_open = (NEW.status IN {OPEN})
        WHERE lead_id = NEW.id AND status = 'planned'; END""",
    ]


def postgresql_triggers() -> list[str]:
    # No row lock on the lead here: FOR SHARE would let two writers that insert an
    # activity and then update the same lead deadlock. The price: on PostgreSQL an
    # activity inserted while another transaction closes its lead can keep
    # lead_open = true; `leadflow counters check` finds it, `repair` fixes it.
    return [
        f"""CREATE FUNCTION counters_activity_open() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE is_open boolean;
        BEGIN
          SELECT l.status IN {OPEN} INTO is_open FROM lead l WHERE l.id = NEW.lead_id;
          NEW.lead_open := coalesce(is_open, false);
          RETURN NEW;
        END $$""",
        """CREATE TRIGGER counters_activity_open
        BEFORE INSERT OR UPDATE OF lead_id, status ON activity
        FOR EACH ROW WHEN (NEW.status = 'planned') EXECUTE FUNCTION counters_activity_open()""",
        f"""CREATE FUNCTION counters_activity_touch() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'INSERT' THEN
            UPDATE lead SET manager_touched = true
            WHERE id = NEW.lead_id AND NOT manager_touched;
          ELSE
            {_retouch('OLD.lead_id, NEW.lead_id')};
          END IF;
          RETURN NULL;
        END $$""",
        f"""CREATE TRIGGER counters_activity_touch AFTER INSERT ON activity
        FOR EACH ROW WHEN (NEW.{TOUCHING.replace(' AND ', ' AND NEW.')})
        EXECUTE FUNCTION counters_activity_touch()""",
        """CREATE TRIGGER counters_activity_retouch
        AFTER UPDATE OF status, direction, lead_id ON activity FOR EACH ROW
        WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.direction IS DISTINCT FROM NEW.direction
              OR OLD.lead_id IS DISTINCT FROM NEW.lead_id)
        EXECUTE FUNCTION counters_activity_touch()""",
        f"""CREATE TRIGGER counters_activity_untouch AFTER DELETE ON activity
        FOR EACH ROW WHEN (OLD.{TOUCHING.replace(' AND ', ' AND OLD.')})
        EXECUTE FUNCTION counters_activity_touch()""",
        f"""CREATE FUNCTION counters_lead_status() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          UPDATE activity SET lead_open = (NEW.status IN {OPEN})
          WHERE lead_id = NEW.id AND status = 'planned';
          RETURN NULL;
        END $$""",
        f"""CREATE TRIGGER counters_lead_status AFTER UPDATE OF status ON lead FOR EACH ROW
        WHEN ((OLD.status IN {OPEN}) IS DISTINCT FROM (NEW.status IN {OPEN}))
        EXECUTE FUNCTION counters_lead_status()""",
    ]


def upgrade() -> None:
    with op.batch_alter_table("lead") as batch_op:
        batch_op.add_column(
            sa.Column("manager_touched", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("activity") as batch_op:
        batch_op.add_column(
            sa.Column("lead_open", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    for sql in _backfill():
        op.execute(sql)
    # Wider versions of the (assignee, status[, due]) indexes: the counters count
    # their entries without reading a row; the old prefixes still serve other queries.
    op.drop_index("ix_lead_assignee_status", table_name="lead")
    op.create_index(
        "ix_lead_assignee_status_touched", "lead", ["assignee_id", "status", "manager_touched"]
    )
    op.drop_index("ix_activity_assignee_status_due", table_name="activity")
    op.create_index(
        "ix_activity_assignee_status_open_due",
        "activity",
        ["assignee_id", "status", "lead_open", "due_at"],
    )
    op.create_index(
        "ix_activity_first_contact",
        "activity",
        ["assignee_id", "is_first_contact", "due_at", "status", "done_at"],
        sqlite_where=sa.text(FIRST_CONTACT_WHERE),
        postgresql_where=sa.text(FIRST_CONTACT_WHERE),
    )
    is_sqlite = op.get_bind().dialect.name == "sqlite"
    for sql in sqlite_triggers() if is_sqlite else postgresql_triggers():
        op.execute(sql)


def downgrade() -> None:
    is_sqlite = op.get_bind().dialect.name == "sqlite"
    for sql in _drop_triggers(is_sqlite):
        op.execute(sql)
    op.drop_index("ix_activity_first_contact", table_name="activity")
    op.drop_index("ix_activity_assignee_status_open_due", table_name="activity")
    op.create_index(
        "ix_activity_assignee_status_due", "activity", ["assignee_id", "status", "due_at"]
    )
    op.drop_index("ix_lead_assignee_status_touched", table_name="lead")
    op.create_index("ix_lead_assignee_status", "lead", ["assignee_id", "status"])
    with op.batch_alter_table("activity") as batch_op:
        batch_op.drop_column("lead_open")
    with op.batch_alter_table("lead") as batch_op:
        batch_op.drop_column("manager_touched")


def _drop_triggers(is_sqlite: bool) -> list[str]:
    names = [
        ("activity", "counters_activity_open"),
        ("activity", "counters_activity_touch"),
        ("activity", "counters_activity_retouch"),
        ("activity", "counters_activity_untouch"),
        ("activity", "counters_activity_moved"),
        ("lead", "counters_lead_status"),
    ]
    if is_sqlite:
        return [f"DROP TRIGGER IF EXISTS {name}" for _, name in names]
    return [f"DROP TRIGGER IF EXISTS {name} ON {table}" for table, name in names] + [
        "DROP FUNCTION IF EXISTS counters_activity_open()",
        "DROP FUNCTION IF EXISTS counters_activity_touch()",
        "DROP FUNCTION IF EXISTS counters_lead_status()",
    ]
