"""Timestamps and ids in the contract's formats."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """RFC 3339 UTC with milliseconds and ``Z``: ``2026-01-05T10:01:24.000Z``."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return iso(utcnow())


def new_id() -> str:
    return str(uuid.uuid4())


def parse_datetime(value: str) -> datetime:
    """Parse an RFC 3339 date-time or a plain date (taken as midnight UTC).

    Raises ValueError on anything else.
    """
    text = value.strip()
    if len(text) == 10:
        d = date.fromisoformat(text)
        return datetime(d.year, d.month, d.day, tzinfo=UTC)
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)
