"""A callback in the outbox: one state change of a task, to be sent to the client's
``callback_url`` (the store keeps them: store/deliveries.py; services/callbacks.py sends)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    msg_id: str
    task_id: int
    account_id: int
    seq: int
    url: str
    body: dict[str, Any]
    state: str
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
