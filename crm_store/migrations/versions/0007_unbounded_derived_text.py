"""unbounded text where the pipeline derives values no contract limit bounds

Company names and domains (made from an email address when no company was given),
outbound recipients and linked Telegram chat ids come from an inquiry's channel ids
or email domain; a length on these columns only turned an overlong value into a
crash of the consumer. PostgreSQL changes `varchar(n)` to `text` without rewriting
the table; SQLite never enforced `n`, so it has nothing to change.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 00:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, the length it had, nullable)
_COLUMNS = (
    ("company", "name", 300, False),
    ("company", "domain", 255, True),
    ("outbound_record", "recipient", 320, False),
    ("notification_setting", "telegram_chat_id", 64, True),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, length, nullable in _COLUMNS:
        op.alter_column(
            table,
            column,
            type_=sa.Text(),
            existing_type=sa.String(length),
            existing_nullable=nullable,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, length, nullable in _COLUMNS:
        op.alter_column(
            table,
            column,
            type_=sa.String(length),
            existing_type=sa.Text(),
            existing_nullable=nullable,
            postgresql_using=f"left({column}, {length})",
        )
