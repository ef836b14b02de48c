"""lease idempotency keys in progress, and index their expiry for the purge

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 00:00:00

A key claimed by a process that then died stayed ``in_progress`` until it expired (24 h):
now a claim names its owner and a lease the owner renews, and a retry after the lease
takes the key over. Rows written before this have no lease: their ``created_at`` plus the
lease stands in for it (``store/idempotency.py``). ``expires_at`` is indexed because the
worker now purges expired keys every minute.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import reelgate.store.tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column(
                "lease_until", reelgate.store.tables.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.create_index("ix_idempotency_keys_expires", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_idempotency_keys_expires")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("owner")
