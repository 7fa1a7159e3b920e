"""lead status and sla: the SLA watcher's candidates read in order from one index

Each watcher pass (every 30 s, on the ingest process's loop) asked for the `new`
leads whose planned first contact is queued or overdue, oldest due first. Both
stores found them through `ix_lead_status` and sorted all of them: at 1,000,000
stored leads, 100,000 of them `new`, a pass took 0.43-0.68 s on SQLite (issue 11).
`ix_lead_status` becomes `ix_lead_status_sla` on (status, sla_breached_at,
first_contact_due_at, id): still the index of every read by status, and now the
watcher's two reads (not yet breached, oldest due first; breached, a page after a
cursor) walk it in their order and stop at their page. One index replaces another,
so the consumer's lead inserts pay for no extra index (two partial indexes beside
`ix_lead_status` cost 4-6 µs an inquiry in `bench.consumer_cpu`).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 02:00:00.000000
"""

from collections.abc import Sequence

from alembic import op


revision: str = "0022"
# Chained on 0021, the last migration on main when this was written.
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ["status", "sla_breached_at", "first_contact_due_at", "id"]


def upgrade() -> None:
    op.create_index("ix_lead_status_sla", "lead", COLUMNS)
    op.drop_index("ix_lead_status", table_name="lead")


def downgrade() -> None:
    op.create_index("ix_lead_status", "lead", ["status"])
    op.drop_index("ix_lead_status_sla", table_name="lead")
