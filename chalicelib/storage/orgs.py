"""Organizations, API keys and rate-limit counters."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.storage.base import is_condition_failure
from chalicelib.storage.tables import ApiKeyModel, AssistantModel, CallModel, NumberModel, OrgModel, RateLimitModel
from chalicelib.timeutil import iso, now_iso, utcnow

# Longest a call can be live: the 43,200 s max_duration cap plus an hour of queueing/ringing slack.
LIVE_CALL_HORIZON_SECONDS = 43_200 + 3_600


@dataclass
class Org:
    id: str
    name: str
    parent_org_id: str | None
    minutes_balance: float
    monthly_usage_minutes: float
    usage_month: str | None
    has_local_models_access: bool
    created_at: str
    updated_at: str


@dataclass
class ApiKey:
    key_hash: str
    key_prefix: str
    org_id: str
    created_at: str
    revoked_at: str | None


def _org(item: OrgModel) -> Org:
    return Org(
        id=item.id,
        name=item.name,
        parent_org_id=item.parent_org_id,
        minutes_balance=float(item.minutes_balance or 0),
        monthly_usage_minutes=float(item.monthly_usage_minutes or 0),
        usage_month=item.usage_month,
        has_local_models_access=bool(item.has_local_models_access),
        created_at=item.created_at,
        updated_at=item.updated_at,
    )


def _key(item: ApiKeyModel) -> ApiKey:
    return ApiKey(item.key_hash, item.key_prefix, item.org_id, item.created_at, item.revoked_at)


class OrgRepository:
    def create(self, org_id: str, name: str, parent_org_id: str | None, minutes_balance: float) -> Org:
        now = now_iso()
        item = OrgModel(id=org_id, name=name, parent_org_id=parent_org_id,
                        minutes_balance=minutes_balance, monthly_usage_minutes=0,
                        created_at=now, updated_at=now)
        item.save(condition=OrgModel.id.does_not_exist())
        return _org(item)

    def get(self, org_id: str) -> Org | None:
        try:
            return _org(OrgModel.get(org_id))
        except DoesNotExist:
            return None

    def children(self, org_id: str) -> list[Org]:
        return [_org(i) for i in OrgModel.by_parent.query(org_id)]

    def add_usage(self, org_id: str, minutes: float, month: str) -> Org | None:
        """Atomically decrement the balance and add to this month's usage (reset on a new month)."""
        item = OrgModel(id=org_id)
        try:
            item.update(
                actions=[OrgModel.minutes_balance.add(-minutes), OrgModel.monthly_usage_minutes.add(minutes)],
                condition=OrgModel.id.exists() & (OrgModel.usage_month == month),
            )
        except UpdateError as exc:
            if not is_condition_failure(exc):
                raise
            try:
                item.update(
                    actions=[OrgModel.minutes_balance.add(-minutes),
                             OrgModel.monthly_usage_minutes.set(minutes),
                             OrgModel.usage_month.set(month)],
                    condition=OrgModel.id.exists(),
                )
            except UpdateError as exc2:
                if is_condition_failure(exc2):
                    return None
                raise
        return _org(item)

    def counts(self, org_id: str) -> dict[str, int]:
        """Counts for the organization view (Select=COUNT queries, keyed by org)."""
        agents = AssistantModel.count(org_id)
        numbers = NumberModel.count(org_id)
        live = CallModel.status.is_in("queued", "ringing", "in-progress")
        # A live call started at most max_duration (12 h cap) ago: count over the by_created LSI from
        # that cutoff, so the read stays bounded however many calls the org has made.
        cutoff = iso(utcnow() - timedelta(seconds=LIVE_CALL_HORIZON_SECONDS))
        active_calls = CallModel.by_created.count(org_id, CallModel.created_at >= cutoff, filter_condition=live)
        return {"active_agents": agents, "active_numbers": numbers, "active_calls": active_calls}


class ApiKeyRepository:
    def create(self, key_hash: str, key_prefix: str, org_id: str) -> ApiKey:
        item = ApiKeyModel(key_hash=key_hash, key_prefix=key_prefix, org_id=org_id, created_at=now_iso())
        item.save(condition=ApiKeyModel.key_hash.does_not_exist())
        return _key(item)

    def get(self, key_hash: str) -> ApiKey | None:
        try:
            return _key(ApiKeyModel.get(key_hash))
        except DoesNotExist:
            return None

    def by_prefix(self, prefix: str) -> list[ApiKey]:
        return [_key(i) for i in ApiKeyModel.by_prefix.query(prefix)]

    def for_org(self, org_id: str) -> list[ApiKey]:
        return [_key(i) for i in ApiKeyModel.by_org.query(org_id)]

    def revoke(self, key_hash: str) -> None:
        ApiKeyModel(key_hash=key_hash).update(
            actions=[ApiKeyModel.revoked_at.set(now_iso())], condition=ApiKeyModel.key_hash.exists()
        )


class RateLimitRepository:
    def hit(self, scope: str, window_seconds: int = 60, now: float | None = None) -> tuple[int, int]:
        """Count one request in the current fixed window. Returns (count, window reset unix time).

        One atomic UpdateItem (ADD) per request; the counter row expires by TTL.
        """
        current = int(now if now is not None else time.time())
        start = current - current % window_seconds
        reset = start + window_seconds
        item = RateLimitModel(bucket=f"{scope}#{start}")
        expires = datetime.fromtimestamp(reset + window_seconds, UTC)
        item.update(actions=[RateLimitModel.hits.add(1), RateLimitModel.expires.set(expires)])
        return int(item.hits), reset

    def take_sliding(self, scope: str, limit: int, window_seconds: int = 60,
                     now: float | None = None) -> float:
        """Admit one request under a sliding-window limit. Returns 0 when admitted, else seconds to wait.

        The estimate is the current window's count plus the previous window's, weighted by how much of
        it still overlaps the last ``window_seconds``, so a burst cannot fit ``2 * limit`` requests
        around a window edge as a fixed window lets it. Rejected requests are not counted: the
        increment is conditional, so concurrent requests cannot overshoot either.
        """
        current = now if now is not None else time.time()
        start = int(current) - int(current) % window_seconds
        previous = _window_count(f"{scope}#{start - window_seconds}")
        weight = 1 - (current - start) / window_seconds
        # Admit when previous * weight + count + 1 <= limit, i.e. count <= most_before.
        most_before = math.floor(limit - previous * weight - 1 + 1e-9)
        item = RateLimitModel(bucket=f"{scope}#{start}")
        expires = datetime.fromtimestamp(start + 2 * window_seconds, UTC)
        if most_before >= 0:  # else full already: reject without touching the counter
            try:
                item.update(actions=[RateLimitModel.hits.add(1), RateLimitModel.expires.set(expires)],
                            condition=RateLimitModel.hits.does_not_exist() | (RateLimitModel.hits <= most_before))
                return 0.0
            except UpdateError as exc:
                if not is_condition_failure(exc):
                    raise
        wait = sliding_wait(limit, window_seconds, current - start, previous, _window_count(f"{scope}#{start}"))
        return max(wait, 0.001)


def _window_count(bucket: str) -> int:
    try:
        return int(RateLimitModel.get(bucket).hits)
    except DoesNotExist:
        return 0


def sliding_wait(limit: int, window: int, elapsed: float, previous: int, current: int) -> float:
    """Seconds until one more request fits the sliding-window estimate (from ``elapsed`` into the window)."""
    if current + 1 > limit:
        # Not before the next window, where this window's count becomes the decaying one.
        decay_to = 1 - (limit - 1) / current if current else 0.0
        return window - elapsed + window * max(0.0, decay_to)
    if previous <= 0:
        return 0.0
    fits_at = window * (1 - (limit - 1 - current) / previous)
    return max(0.0, fits_at - elapsed)
