"""List paging shared by the API and the services: ``limit``/``offset`` plus opaque cursors.

A cursor is ``<payload>.<mac>``: the payload is DynamoDB's last evaluated key (or a list position),
base64url-encoded JSON without padding; the mac is an HMAC-SHA256 (truncated to 128 bits) over the
payload and the list's *binding*: the org id, the list (path and path ids) and its filters. A cursor
is therefore only accepted by the list, org and filters that minted it; anything else (edited,
forged, replayed by another org or on another list) is a 400 naming ``cursor`` and never reaches
DynamoDB. The API parses ``limit``, ``offset`` and ``cursor`` into a :class:`Page`, which carries
the binding, so services encode the next cursor with ``page.next_cursor(key)``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from chalicelib import errors

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

Cursor = dict[str, Any]
T = TypeVar("T")


PAGING_PARAMS = frozenset({"limit", "offset", "cursor"})
_BAD_CURSOR = "'cursor' is not a valid cursor for this list."


@dataclass
class Page:
    """One list request's window: page size, items to skip, the cursor to continue from, and the
    binding (org, list, filters) that the next cursor is signed for."""

    limit: int
    offset: int
    cursor: Cursor | None
    binding: str = ""

    def next_cursor(self, key: Mapping[str, Any] | None) -> str | None:
        """The signed ``next_cursor`` for ``key`` (None when the list is complete)."""
        return encode_cursor(key, self.binding)


def list_binding(org_id: str, path: str, query: Mapping[str, str] | None = None) -> str:
    """What a cursor is bound to: the org, the list's path (ids included) and its filter parameters."""
    filters = sorted((k, v) for k, v in (query or {}).items() if k not in PAGING_PARAMS)
    return json.dumps([org_id, path, filters], separators=(",", ":"))


def parse_page(query: Mapping[str, str], binding: str) -> Page:
    """``limit`` (1..1000, default 100), ``offset`` (>= 0) and ``cursor`` (signed for ``binding``)
    from a query string; 400 naming the parameter when invalid."""
    limit = int_param(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = int_param(query, "offset", 0, 0, 10_000_000)
    cursor = decode_cursor(query["cursor"], binding) if query.get("cursor") else None
    return Page(limit, offset, cursor, binding)


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


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _mac(payload: str, binding: str) -> str:
    from chalicelib.settings import get_settings

    # A key of its own, derived from a deployment secret, so a cursor mac is never a valid call token.
    key = hmac.new(get_settings().call_token_secret.encode(), b"list-cursor/v1", hashlib.sha256).digest()
    return _b64(hmac.new(key, f"{binding}\n{payload}".encode(), hashlib.sha256).digest()[:16])


def encode_cursor(key: Mapping[str, Any] | None, binding: str) -> str | None:
    """The signed ``next_cursor`` for a last evaluated key (None when the list is complete)."""
    if not key:
        return None
    payload = _b64(json.dumps(key, separators=(",", ":")).encode())
    return f"{payload}.{_mac(payload, binding)}"


def decode_cursor(token: str, binding: str) -> Cursor:
    """The key inside a ``cursor`` parameter; 400 when it was not minted for this org, list and filters."""
    payload, _, mac = token.partition(".")
    if not payload or not hmac.compare_digest(mac.encode(), _mac(payload, binding).encode()):
        raise errors.InvalidRequest(_BAD_CURSOR, param="cursor")
    try:
        value: object = json.loads(base64.urlsafe_b64decode((payload + "=" * (-len(payload) % 4)).encode()))
    except (ValueError, UnicodeDecodeError):
        raise errors.InvalidRequest(_BAD_CURSOR, param="cursor") from None
    if not isinstance(value, dict):
        raise errors.InvalidRequest(_BAD_CURSOR, param="cursor")
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


def slice_list(items: Sequence[T], page: Page, key: Callable[[T], list[str]] | None = None
               ) -> tuple[list[T], str | None]:
    """One page of a list already in memory, and its signed ``next_cursor``.

    With ``key`` (items sorted by it) the cursor holds the last item's key, so a page continues
    after it even when earlier items were deleted; without, the cursor is a position."""
    start = 0
    if page.cursor is not None:
        after = page.cursor.get("after")
        pos = page.cursor.get("pos")
        if key is not None and isinstance(after, list):
            start = next((i for i, x in enumerate(items) if key(x) > after), len(items))
        elif key is None and isinstance(pos, int) and pos >= 0:
            start = pos
        else:
            raise errors.InvalidRequest(_BAD_CURSOR, param="cursor")
    start += page.offset
    chunk = list(items[start:start + page.limit])
    end = start + len(chunk)
    if end >= len(items) or not chunk:
        return chunk, None
    return chunk, page.next_cursor({"after": key(chunk[-1])} if key is not None else {"pos": end})
