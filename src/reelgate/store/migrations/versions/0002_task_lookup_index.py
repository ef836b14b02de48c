"""look up a task by the account and the upstream's id

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 00:30:00

The lookup by either id now reads one column chosen by the id's shape; an index on the
upstream id alone made SQLite walk all of an account's tasks (docs/benchmarks.md).
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_tasks_upstream", table_name="tasks")
    op.create_index(
        "ix_tasks_account_upstream", "tasks", ["account_id", "upstream_task_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_account_upstream", table_name="tasks")
    op.create_index("ix_tasks_upstream", "tasks", ["upstream_task_id"], unique=False)
