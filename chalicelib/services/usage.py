"""GET /usage: usage logs (both field generations) with a summary over the filtered range."""

from __future__ import annotations

import math
from datetime import timedelta
from functools import lru_cache
from typing import Any

from chalicelib import errors
from chalicelib.paging import Page
from chalicelib.settings import get_settings
from chalicelib.storage.usage import HIGH, UsageRepository
from chalicelib.timeutil import iso, parse_datetime


@lru_cache(maxsize=1)
def repo() -> UsageRepository:
    return UsageRepository()


def _bound(query: dict[str, str], name: str, *, end: bool) -> tuple[str | None, Any]:
    raw = (query.get(name) or "").strip()
    if not raw:
        return None, None
    try:
        dt = parse_datetime(raw)
    except ValueError:
        raise errors.InvalidRequest(f"'{name}' must be an RFC 3339 date-time or a date (YYYY-MM-DD).",
                                    param=name) from None
    if not end:
        return iso(dt), dt
    if len(raw) == 10:
        # A plain end date includes that whole day: stop before the next midnight.
        nxt = dt + timedelta(days=1)
        return iso(nxt), nxt
    return iso(dt) + HIGH, dt


def log(record: dict[str, Any]) -> dict[str, Any]:
    """One usage log with both generations of fields."""
    seconds = int(record.get("duration_seconds") or record.get("duration_sec") or 0)
    minutes = record.get("minutes_used")
    # Writers may store the call direction here; the log says phone or web (SDK 2) plus the direction.
    kind = str(record.get("call_type") or "phone")
    return {
        "id": record.get("id"),
        "call_id": record.get("call_id"),
        "duration_seconds": seconds,
        "duration_sec": seconds,
        "minutes_used": int(minutes) if minutes is not None else math.ceil(seconds / 60),
        "cost": round(float(record.get("cost") or 0), 4),
        "byok_stt": bool(record.get("byok_stt")),
        "byok_llm": bool(record.get("byok_llm")),
        "byok_tts": bool(record.get("byok_tts")),
        "phone_number": record.get("phone_number"),
        "agent_name": record.get("agent_name"),
        "business_name": record.get("business_name"),
        "call_type": "web" if kind in ("web", "web_call") else "phone",
        "direction": kind if kind in ("inbound", "outbound") else None,
        "created_at": record.get("created_at"),
    }


def list_usage(org_id: str, page: Page, query: dict[str, str]) -> dict[str, Any]:
    """Newest first. The summary covers every log in the date range, so the range is read once
    (one Query per 1 MB) and the page is cut from it; ``cursor`` continues after the last log of
    the previous page even when new logs arrived in between."""
    lo, start = _bound(query, "start_date", end=False)
    hi, finish = _bound(query, "end_date", end=True)
    if start is not None and finish is not None and start > finish:
        raise errors.InvalidRequest("'start_date' must not be after 'end_date'.", param="start_date")
    after = None
    if page.cursor is not None:
        after = page.cursor.get("sk")
        if not isinstance(after, str):
            raise errors.InvalidRequest("'cursor' is not a valid cursor.", param="cursor")
    rows = list(repo().iterate(org_id, lo, hi))
    logs = [log(r) for _, r in rows]
    begin = page.offset if after is None else next((i for i, (sk, _) in enumerate(rows) if sk < after), len(rows))
    chunk = logs[begin:begin + page.limit]
    more = begin + page.limit < len(rows)
    total_seconds = sum(x["duration_seconds"] for x in logs)
    currency = get_settings().currency
    return {
        "logs": chunk,
        "pagination": {"total": len(logs), "limit": page.limit, "offset": begin},
        "next_cursor": page.next_cursor({"sk": rows[begin + page.limit - 1][0]}) if more else None,
        "summary": {
            "total_calls": len(logs),
            "total_duration_seconds": total_seconds,
            "total_duration_minutes": round(total_seconds / 60, 2),
            "total_minutes": sum(x["minutes_used"] for x in logs),
            "total_cost": round(sum(x["cost"] for x in logs), 4),
            "currency": currency,
        },
        "currency": currency,
    }
