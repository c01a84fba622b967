"""List paging shared by the API and the services: ``limit``/``offset`` plus opaque cursors.

A cursor is DynamoDB's last evaluated key, base64url-encoded JSON without padding; the API parses
``limit``, ``offset`` and ``cursor`` into a :class:`Page`, services read it and encode the next cursor.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from chalicelib import errors

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

Cursor = dict[str, Any]


@dataclass
class Page:
    """One list request's window: page size, items to skip, and the cursor to continue from."""

    limit: int
    offset: int
    cursor: Cursor | None


def parse_page(query: Mapping[str, str]) -> Page:
    """``limit`` (1..1000, default 100), ``offset`` and ``cursor`` from a query string; 400 when invalid."""
    limit = int_param(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = int_param(query, "offset", 0, 0, 10_000_000)
    cursor = decode_cursor(query["cursor"]) if query.get("cursor") else None
    return Page(limit, offset, cursor)


def int_param(query: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    """An integer query parameter within ``[lo, hi]``; ``default`` when absent or empty."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise errors.InvalidRequest(f"'{name}' must be an integer.", param=name) from None
    if value < lo or value > hi:
        raise errors.InvalidRequest(f"'{name}' must be between {lo} and {hi}.", param=name)
    return value


def encode_cursor(key: Mapping[str, Any] | None) -> str | None:
    """The opaque ``next_cursor`` for a last evaluated key (None when the list is complete)."""
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    """The key inside a ``cursor`` parameter; 400 when it is not one of ours."""
    try:
        padded = token + "=" * (-len(token) % 4)
        value: object = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise errors.InvalidRequest("'cursor' is not a valid cursor.", param="cursor") from None
    if not isinstance(value, dict):
        raise errors.InvalidRequest("'cursor' is not a valid cursor.", param="cursor")
    return cast(Cursor, value)  # JSON boundary: an object's keys are strings


def parse_bool(query: Mapping[str, str], name: str, default: bool = False) -> bool:
    """A boolean query parameter (true/1/yes, false/0/no/empty); 400 otherwise."""
    raw = query.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no", ""}:
        return False
    raise errors.InvalidRequest(f"'{name}' must be true or false.", param=name)
