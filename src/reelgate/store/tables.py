"""The schema, as SQLAlchemy Core tables. Alembic migrations create it; see migrations/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite's INTEGER PRIMARY KEY is the rowid only when spelled INTEGER; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # a time without a zone means UTC here, never the server's local time
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        dt: datetime = value
        return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("status", String(20), nullable=False, default="active"),
    Column("balance", BigInteger, nullable=False, default=0),  # minor units
    Column("created_at", UTCDateTime, nullable=False),
    # limits on all of the account's keys together, next to each key's own (None: none)
    Column("rpm_limit", Integer, nullable=True),
    Column("max_in_flight", Integer, nullable=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("prefix", String(32), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    Column("models", JSON, nullable=True),  # None = every model
    Column("rpm_limit", Integer, nullable=True),
    Column("max_in_flight", Integer, nullable=True),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("platform_id", String(40), nullable=False, unique=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id"), nullable=False),
    Column("api_key_id", BigInteger, ForeignKey("api_keys.id"), nullable=True),
    Column("model", String(64), nullable=False),
    Column("mode", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("upstream_status", String(16), nullable=True),
    Column("upstream_task_id", String(64), nullable=True),
    Column("channel", String(64), nullable=False),
    Column("upstream_callback", Boolean, nullable=False, default=False),
    Column("request", JSON, nullable=False),
    Column("duration", Integer, nullable=False),
    Column("resolution", String(8), nullable=False),
    Column("price", BigInteger, nullable=False, default=0),
    Column("callback_url", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("deadline_at", UTCDateTime, nullable=False),
    Column("error_code", Integer, nullable=True),
    Column("error_message", Text, nullable=True),
    Column("error_reason", String(32), nullable=True),
    Column("event_seq", Integer, nullable=False, default=0),
    # tracking
    Column("next_poll_at", UTCDateTime, nullable=True),
    Column("poll_attempts", Integer, nullable=False, default=0),
    Column("missing_polls", Integer, nullable=False, default=0),  # "not found" in a row
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    # the result
    Column("file_id", String(64), nullable=True),
    Column("file_bytes", BigInteger, nullable=True),
    Column("file_width", Integer, nullable=True),
    Column("file_height", Integer, nullable=True),
    Column("file_name", String(200), nullable=True),
    Column("file_upstream_url", Text, nullable=True),
    Column("file_upstream_expires_at", UTCDateTime, nullable=True),
    Column("file_storage_key", String(200), nullable=True),
    Column("file_sha256", String(64), nullable=True),
    Column("file_created_at", UTCDateTime, nullable=True),
    Column("file_extra", JSON, nullable=True),  # the upstream file object's other fields
    Column("file_copy_pending", Boolean, nullable=False, default=False),
    Column("copy_attempts", Integer, nullable=False, default=0),
    Column("next_copy_at", UTCDateTime, nullable=True),
    # v2: the ratio the upstream chose, what it billed (domain.tasks.Usage), and when
    # the account deleted the record (it is then gone from every view of the account)
    Column("ratio", String(16), nullable=True),
    Column("usage", JSON, nullable=True),
    Column("deleted_at", UTCDateTime, nullable=True),
    Index("ix_tasks_account_created", "account_id", "id"),
    Index("ix_tasks_key_status", "api_key_id", "status"),
    Index("ix_tasks_account_status", "account_id", "status"),  # the account's in-flight count
    Index("ix_tasks_channel_status", "channel", "status"),
    Index("ix_tasks_account_upstream", "account_id", "upstream_task_id"),
    Index("ix_tasks_file", "file_id"),
    Index("ix_tasks_due", "status", "next_poll_at"),
)

# Append-only: an account's balance always equals the sum of its entries' amounts.
ledger = Table(
    "ledger",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id"), nullable=False),
    Column("task_id", BigInteger, ForeignKey("tasks.id"), nullable=True),
    Column("kind", String(16), nullable=False),  # topup reserve capture release refund
    Column("amount", BigInteger, nullable=False),  # signed, minor units
    Column("balance_after", BigInteger, nullable=False),
    Column("note", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_ledger_account", "account_id", "id"),
    # each money movement of a task happens at most once, whatever races for it
    Index("uq_ledger_task_kind", "task_id", "kind", unique=True),
)

# One row per status change of a task, numbered per task: the SSE stream replays them.
task_events = Table(
    "task_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("task_id", BigInteger, ForeignKey("tasks.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("upstream_status", String(16), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("uq_task_events_task_seq", "task_id", "seq", unique=True),
)

# Upstream accounts. The API key is stored as given (the gateway must present it) and is
# never returned by any API.
channels = Table(
    "channels",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("base_url", Text, nullable=False),
    Column("api_key", Text, nullable=False),
    Column("models", JSON, nullable=True),
    Column("priority", Integer, nullable=False, default=0),
    Column("weight", Integer, nullable=False, default=1),
    Column("rpm", Integer, nullable=True),
    Column("max_in_flight", Integer, nullable=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("source", String(16), nullable=False, default="api"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Standard Webhooks secrets per account; during a rotation the old one signs too, until
# it expires.
webhook_secrets = Table(
    "webhook_secrets",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("secret", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
)

# The durable outbox of callbacks to clients: written with the state change it reports.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("msg_id", String(40), nullable=False, unique=True),  # webhook-id, same on retries
    Column("task_id", BigInteger, ForeignKey("tasks.id"), nullable=False),
    Column("account_id", BigInteger, ForeignKey("accounts.id"), nullable=False),
    Column("seq", Integer, nullable=False),  # the task event it reports
    Column("url", Text, nullable=False),
    Column("body", JSON, nullable=False),
    Column("state", String(16), nullable=False),  # pending delivered failed gone
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime, nullable=True),
    Index("uq_deliveries_task_seq", "task_id", "seq", unique=True),
    Index("ix_deliveries_due", "state", "next_attempt_at"),
)

# Idempotency-Key: the first answer to a (account, key) is kept and replayed.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("account_id", BigInteger, ForeignKey("accounts.id"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # in_progress done
    Column("status_code", Integer, nullable=True),
    Column("response", JSON, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    # while in_progress: which request holds the key and until when (renewed while it
    # runs); a retry after lease_until takes the key over from a process that died
    Column("owner", String(32), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Index("ix_idempotency_keys_expires", "expires_at"),  # the purge
)
