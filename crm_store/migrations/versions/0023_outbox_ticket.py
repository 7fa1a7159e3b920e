"""outbox ticket: a batch's outbox rows are committed published, named by a ticket

The consumer claimed the outbox rows its batch had just committed in a second
transaction (an `UPDATE … RETURNING` per table), held it while the broker
acknowledged them, and committed it: at 1,000 inquiries/s on SQLite about 3 ms of
each ~30 ms batch, every row updated once more, and the store's write lock held for
a broker round trip (issue 11). The batch now writes its rows already marked
published, with one `outbox_ticket` row naming them; the ticket is deleted once the
send is acknowledged, and a failed send (or, after a grace period, a stopped
process) marks its rows unpublished again for the sweep.

Downgrade marks every ticket's rows unpublished before dropping the table: the
older code's sweep then publishes them (at least once, as before).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 02:15:00.000000
"""

import json
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm_store.types


revision: str = "0023"
# Chained on 0022, the last migration on main when this was written.
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_ticket",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", crm_store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("event_ids", sa.JSON(), nullable=False),
        sa.Column("outbound_ids", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_ticket")),
    )


def downgrade() -> None:
    bind = op.get_bind()
    tickets = sa.table(
        "outbox_ticket", sa.column("event_ids", sa.JSON), sa.column("outbound_ids", sa.JSON)
    )
    for table_name, column in (("lead_event", "event_ids"), ("outbound_record", "outbound_ids")):
        table = sa.table(table_name, sa.column("id", sa.Uuid), sa.column("published_at"))
        for (ids,) in bind.execute(sa.select(tickets.c[column])):
            listed = json.loads(ids) if isinstance(ids, str) else ids
            if listed:
                bind.execute(
                    sa.update(table)
                    .where(table.c.id.in_([uuid.UUID(i) for i in listed]))
                    .values(published_at=None)
                )
    op.drop_table("outbox_ticket")
