"""what the upstream billed, the ratio, and deleted records

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-12 00:00:00

MiniMax's v2 API reports what it billed for a finished task (``usage``: seconds of
output and input, images, audio) and the ratio it chose (``adaptive`` becomes one of
the six), and lets a client delete a finished task's record (``DELETE
/v2/video_generation/{id}``; OpenAI's ``DELETE /v1/videos/{id}`` likewise). ``usage`` and
``ratio`` are NULL for v1 tasks and older rows; ``deleted_at`` marks a record its
account deleted: it is gone from every view of the account, and kept for the ledger
that points at it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from reelgate.store.tables import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ratio", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("usage", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("deleted_at", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("usage")
        batch_op.drop_column("ratio")
