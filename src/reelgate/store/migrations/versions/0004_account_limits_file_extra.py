"""account-wide limits, and the upstream file object's other fields

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 00:00:00

MiniMax counts request limits per account, the gateway counted them per key only: an
account now has its own ``rpm_limit`` and ``max_in_flight`` over all of its keys (NULL:
no limit, as every existing account gets). ``tasks.file_extra`` keeps the fields of the
upstream's file object the gateway does not write itself (``backup_download_url``), so
that ``files/retrieve``, answered from the store, passes them on; NULL for older tasks.
An index on (account, status) keeps the account's in-flight count off its old tasks.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rpm_limit", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_in_flight", sa.Integer(), nullable=True))
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("file_extra", sa.JSON(), nullable=True))
        batch_op.create_index("ix_tasks_account_status", ["account_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_account_status")
        batch_op.drop_column("file_extra")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("max_in_flight")
        batch_op.drop_column("rpm_limit")
