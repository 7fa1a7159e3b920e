"""lead contact index: one index of a contact's leads, not two

`ix_lead_contact_id` (contact_id) came with the first schema; 0018 added
`ix_lead_contact_assignee` (contact_id, assignee_id) for "this contact's leads that
are mine". Both stores read a lookup by contact alone (the contact's page, matching
an inquiry to the contact's open lead, the foreign key's check when a contact is
deleted) from the composite index's leading column, so the single-column one only
cost every lead insert one more index entry (issue 11).

PostgreSQL also gets the column comments the models declare for the two flags that
0014's triggers keep (`lead.manager_touched`, `activity.lead_open`), so that the
migrated schema is exactly the models' (tests/integration/test_schema_drift.py).
SQLite keeps no comments.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 15:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0024"
# Chained on 0023, the last migration on main when this was written.
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMMENTS = [
    (
        "lead",
        "manager_touched",
        "some done, non-inbound activity is on the lead; kept by a trigger (0014)",
    ),
    (
        "activity",
        "lead_open",
        "planned only: the lead is new or in progress; kept by a trigger (0014)",
    ),
]


def upgrade() -> None:
    op.drop_index("ix_lead_contact_id", table_name="lead")
    if op.get_bind().dialect.name == "postgresql":
        for table, column, comment in COMMENTS:
            op.alter_column(table, column, existing_type=sa.Boolean(), comment=comment)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, column, comment in COMMENTS:
            op.alter_column(
                table, column, existing_type=sa.Boolean(), comment=None, existing_comment=comment
            )
    op.create_index("ix_lead_contact_id", "lead", ["contact_id"])
