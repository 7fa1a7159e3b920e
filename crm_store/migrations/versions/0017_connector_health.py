"""connector health by the hour: successes, errors and connection tests (issue 12)

Also an index on inquiry_record.received_at: the connectors page counts each
connector's inquiries of the last day from the records.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm_store.types

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    moment = crm_store.types.UTCDateTime(timezone=True)
    op.create_table(
        "connector_health_hour",
        sa.Column("connector", sa.String(length=200), nullable=False),
        sa.Column("hour_at", moment, nullable=False),
        sa.Column("successes", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", moment, nullable=True),
        sa.Column("tests_ok", sa.Integer(), nullable=False),
        sa.Column("tests_failed", sa.Integer(), nullable=False),
        sa.Column("last_test_ok", sa.Boolean(), nullable=True),
        sa.Column("last_test_detail", sa.Text(), nullable=True),
        sa.Column("last_test_params", sa.JSON(), nullable=True),
        sa.Column("last_test_at", moment, nullable=True),
        sa.PrimaryKeyConstraint("connector", "hour_at", name=op.f("pk_connector_health_hour")),
    )
    # The connectors page counts each connector's inquiries of the last day.
    op.create_index("ix_inquiry_record_received_at", "inquiry_record", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_inquiry_record_received_at", table_name="inquiry_record")
    op.drop_table("connector_health_hour")
