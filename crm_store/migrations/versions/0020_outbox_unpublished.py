"""outbox unpublished: the outbound sweep reads an index of unpublished rows only

The consumer's outbox sweep (`crm_store.outbox.unpublished_outbound`, run at start and
after any batch whose outbox was not published from memory) asked for
`published_at IS NULL ORDER BY created_at` with no index on `outbound_record.published_at`:
a full scan of every message ever sent. At 200 000 preloaded leads (400 000 outbound
rows) each sweep took about 190 ms on SQLite and it ran nine times in 5 000 inquiries,
the largest single growth of a batch's time (issue 11). A partial index holds only the
unpublished rows, in sweep order, so it stays as small as the outbox backlog however
big the table grows, and marking a row published drops its entry.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 15:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0020"
# Chained on 0019, the last migration on main when this was written.
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same text as the sweep's WHERE: SQLite only uses a partial index when the query
# repeats its terms.
UNPUBLISHED = "published_at IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_outbound_record_unpublished",
        "outbound_record",
        ["created_at"],
        sqlite_where=sa.text(UNPUBLISHED),
        postgresql_where=sa.text(UNPUBLISHED),
    )


def downgrade() -> None:
    op.drop_index("ix_outbound_record_unpublished", table_name="outbound_record")
