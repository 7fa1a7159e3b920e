"""review: what did not become a lead, and who made it one

A head or admin reviews the inquiries that were recorded, appended to an open lead
or made junk. When they say "this is a real inquiry", the record keeps when, by whom,
and the id of the inquiry republished to make the lead (`review_inquiry_id`), so a
second click makes no second lead and the list can show what was done. The indexes
serve the review list: records by outcome and time, reviewed records, junk leads.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm_store.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inquiry_record", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reviewed_at", crm_store.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("reviewed_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("review_inquiry_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_inquiry_record_reviewed_by_app_user"),
            "app_user",
            ["reviewed_by"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(
            "ix_inquiry_record_outcome_received", ["outcome", "received_at"], unique=False
        )
        batch_op.create_index(
            "ix_inquiry_record_reviewed_at",
            ["reviewed_at"],
            unique=False,
            sqlite_where=sa.text("reviewed_at IS NOT NULL"),
            postgresql_where=sa.text("reviewed_at IS NOT NULL"),
        )
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.create_index("ix_lead_status", ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.drop_index("ix_lead_status")
    with op.batch_alter_table("inquiry_record", schema=None) as batch_op:
        batch_op.drop_index("ix_inquiry_record_reviewed_at")
        batch_op.drop_index("ix_inquiry_record_outcome_received")
        batch_op.drop_constraint(
            batch_op.f("fk_inquiry_record_reviewed_by_app_user"), type_="foreignkey"
        )
        batch_op.drop_column("review_inquiry_id")
        batch_op.drop_column("reviewed_by")
        batch_op.drop_column("reviewed_at")
