"""Call rows: created by the API, advanced by Twilio callbacks and the media service.

A call row is keyed (org_id, id). Everything beyond the indexed attributes lives in ``data``:

    assistant_id, number_id, campaign_id, lead_id, caller_phone, assistant_phone,
    config (resolved assistant config, secrets removed), first_message, context, metadata,
    end_reason, error, started_at, ended_at, duration_seconds, messages, latency, costs,
    summary, analysis_result, answered_by, control_url, recording_url
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib.storage.base import is_condition_failure
from chalicelib.storage.tables import CallModel
from chalicelib.timeutil import now_iso

LIVE_STATUSES = ("queued", "ringing", "in-progress")
FINAL_STATUSES = ("ended", "failed")
HEARTBEAT_SHARDS = 8  # by_heartbeat index partitions: one query each when reaping


def _shard(call_id: str) -> str:
    return f"live#{int(hashlib.sha256(call_id.encode()).hexdigest(), 16) % HEARTBEAT_SHARDS}"


@dataclass
class Call:
    org_id: str
    id: str
    status: str
    direction: str
    created_at: str
    updated_at: str
    twilio_call_sid: str | None = None
    status_sequence: int = -1
    data: dict[str, Any] = field(default_factory=dict)
    heartbeat_at: str | None = None  # the holder's last heartbeat while in progress

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES


@dataclass(frozen=True)
class CallFilter:
    """What GET /calls narrows an organization's calls to (every field optional)."""

    statuses: tuple[str, ...] = ()
    direction: str | None = None
    assistant_id: str | None = None
    campaign_id: str | None = None
    start: str | None = None  # created_at bounds, inclusive
    end: str | None = None

    def condition(self) -> Any:
        """The filter expression of the by_created query (None: no filter)."""
        parts: list[Any] = []
        if self.statuses:
            parts.append(CallModel.status.is_in(*self.statuses))
        if self.direction:
            parts.append(CallModel.direction == self.direction)
        if self.assistant_id:
            parts.append(CallModel.assistant_id == self.assistant_id)
        if self.campaign_id:
            parts.append(CallModel.campaign_id == self.campaign_id)
        cond = None
        for part in parts:
            cond = part if cond is None else cond & part
        return cond


def _indexed_copies(data: dict[str, Any]) -> dict[str, str | None]:
    """data's fields kept as top-level attributes for filtering."""
    out: dict[str, str | None] = {}
    for key in ("assistant_id", "campaign_id"):
        value = data.get(key)
        out[key] = value if isinstance(value, str) and value else None
    return out


def _data_actions(data: dict[str, Any]) -> list[Action]:
    """Set ``data`` and keep its top-level copies in step."""
    actions: list[Action] = [CallModel.data.set(data)]
    for key, value in _indexed_copies(data).items():
        attr = getattr(CallModel, key)
        actions.append(attr.set(value) if value is not None else attr.remove())
    return actions


def _created_between(start: str | None, end: str | None) -> Any:
    """Range condition on the by_created index for optional bounds."""
    if start and end:
        return CallModel.created_at.between(start, end)
    if start:
        return CallModel.created_at >= start
    if end:
        return CallModel.created_at <= end
    return None


def _call(item: CallModel) -> Call:
    return Call(item.org_id, item.id, item.status, item.direction, item.created_at, item.updated_at,
                item.twilio_call_sid, int(item.status_sequence if item.status_sequence is not None else -1),
                item.data or {}, item.heartbeat_at)


class CallRepository:
    def create(self, call: Call) -> Call:
        copies = _indexed_copies(call.data)
        item = CallModel(call.org_id, call.id, status=call.status, direction=call.direction,
                         created_at=call.created_at, updated_at=call.updated_at,
                         twilio_call_sid=call.twilio_call_sid, status_sequence=call.status_sequence,
                         data=call.data, assistant_id=copies["assistant_id"], campaign_id=copies["campaign_id"])
        item.save(condition=CallModel.id.does_not_exist())
        return call

    def get(self, org_id: str, call_id: str) -> Call | None:
        try:
            return _call(CallModel.get(org_id, call_id))
        except DoesNotExist:
            return None

    def save(self, call: Call, *, expect_status: tuple[str, ...] | None = None) -> bool:
        """Overwrite the row. With ``expect_status`` only when the stored status is one of them.

        Returns False when the row is gone or the condition failed (someone else moved it).
        """
        call.updated_at = now_iso()
        copies = _indexed_copies(call.data)
        item = CallModel(call.org_id, call.id, status=call.status, direction=call.direction,
                         created_at=call.created_at, updated_at=call.updated_at,
                         twilio_call_sid=call.twilio_call_sid, status_sequence=call.status_sequence,
                         data=call.data, assistant_id=copies["assistant_id"], campaign_id=copies["campaign_id"])
        condition = CallModel.id.exists()
        if expect_status:
            condition = condition & CallModel.status.is_in(*expect_status)
        try:
            item.save(condition=condition)
        except PutError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def set_status(self, org_id: str, call_id: str, status: str, *, sequence: int | None = None,
                   from_statuses: tuple[str, ...] = LIVE_STATUSES, data_updates: dict[str, Any] | None = None,
                   heartbeat: bool = False, stale_before: str | None = None) -> Call | None:
        """Move a call to ``status`` atomically, only from ``from_statuses`` and, when a Twilio
        SequenceNumber is given, only if it is newer than the last one applied.

        ``data_updates`` are merged into ``data`` (read-modify-write guarded by the same condition).
        ``heartbeat`` stamps a fresh heartbeat (a holder took the call); with ``stale_before`` the move
        applies only while the last heartbeat is older than that (the reaper's condition). A final
        status takes the call out of the heartbeat index. Returns the updated call, or None when the
        transition did not apply.
        """
        current = self.get(org_id, call_id)
        if current is None:
            return None
        if current.status not in from_statuses:
            return None
        if sequence is not None and sequence <= current.status_sequence:
            return None
        if stale_before is not None and (current.heartbeat_at or "") >= stale_before:
            return None
        data = {**current.data, **(data_updates or {})}
        item = CallModel(org_id, call_id)
        now = now_iso()
        actions: list[Action] = [CallModel.status.set(status), CallModel.updated_at.set(now), *_data_actions(data)]
        condition = CallModel.status.is_in(*from_statuses) & (CallModel.updated_at == current.updated_at)
        if sequence is not None:
            actions.append(CallModel.status_sequence.set(sequence))
        if status in FINAL_STATUSES:
            actions += [CallModel.live_shard.remove(), CallModel.heartbeat_at.remove()]
        elif heartbeat:
            actions += [CallModel.live_shard.set(_shard(call_id)), CallModel.heartbeat_at.set(now)]
        try:
            item.update(actions=actions, condition=condition)
        except UpdateError as exc:
            if is_condition_failure(exc):
                # Lost a race: re-evaluate against the newer row.
                return self.set_status(org_id, call_id, status, sequence=sequence, from_statuses=from_statuses,
                                       data_updates=data_updates, heartbeat=heartbeat, stale_before=stale_before)
            raise
        return _call(item)

    def heartbeat(self, org_id: str, call_id: str, messages: list[Any] | None = None) -> Call | None:
        """The holder is alive: stamp the heartbeat and, when ``messages`` is at least as long as the
        stored transcript, store it (a late or stale write never shortens it). Only while in progress;
        None otherwise (the call ended, or another party ended it)."""
        for _ in range(5):
            current = self.get(org_id, call_id)
            if current is None or current.status != "in-progress":
                return None
            now = now_iso()
            item = CallModel(org_id, call_id)
            actions: list[Action] = [CallModel.updated_at.set(now), CallModel.heartbeat_at.set(now),
                                     CallModel.live_shard.set(_shard(call_id))]
            stored = current.data.get("messages") or []
            if messages is not None and len(messages) >= len(stored) and messages != stored:
                actions.append(CallModel.data.set({**current.data, "messages": messages}))
            condition = (CallModel.status == "in-progress") & (CallModel.updated_at == current.updated_at)
            try:
                item.update(actions=actions, condition=condition)
            except UpdateError as exc:
                if is_condition_failure(exc):
                    continue
                raise
            return _call(item)
        raise RuntimeError("call row kept changing; gave up after 5 attempts")

    def stale_live_calls(self, before: str, limit: int = 100) -> list[tuple[str, str]]:
        """(org_id, call_id) of in-progress calls whose last heartbeat is older than ``before``."""
        out: list[tuple[str, str]] = []
        for shard in range(HEARTBEAT_SHARDS):
            for item in CallModel.by_heartbeat.query(f"live#{shard}", CallModel.heartbeat_at < before,
                                                     limit=limit - len(out)):
                out.append((item.org_id, item.id))
            if len(out) >= limit:
                break
        return out

    def update_data(self, org_id: str, call_id: str, updates: dict[str, Any], *,
                    twilio_call_sid: str | None = None) -> Call | None:
        """Merge keys into ``data`` (optimistic concurrency on updated_at; retried on a race)."""
        for _ in range(5):
            current = self.get(org_id, call_id)
            if current is None:
                return None
            item = CallModel(org_id, call_id)
            actions: list[Action] = [CallModel.updated_at.set(now_iso()), *_data_actions({**current.data, **updates})]
            if twilio_call_sid is not None:
                actions.append(CallModel.twilio_call_sid.set(twilio_call_sid))
            try:
                item.update(actions=actions, condition=CallModel.updated_at == current.updated_at)
            except UpdateError as exc:
                if is_condition_failure(exc):
                    continue
                raise
            return _call(item)
        raise RuntimeError("call row kept changing; gave up after 5 attempts")

    def find_by_twilio_sid(self, call_sid: str) -> tuple[str, str] | None:
        """(org_id, call_id) of the call Twilio knows as ``call_sid`` (keys-only GSI query)."""
        for item in CallModel.by_twilio_sid.query(call_sid, limit=1):
            return item.org_id, item.id
        return None

    def set_twilio_sid(self, org_id: str, call_id: str, call_sid: str) -> None:
        """Record Twilio's CallSid (one UpdateItem; leaves ``updated_at`` and ``data`` alone so it
        never races with status transitions)."""
        CallModel(org_id, call_id).update(actions=[CallModel.twilio_call_sid.set(call_sid)],
                                          condition=CallModel.id.exists())

    def list(self, org_id: str, *, limit: int, start_key: dict[str, Any] | None = None,
             where: CallFilter = CallFilter()) -> tuple[list[Call], dict[str, Any] | None]:
        """Newest first through the by_created index: one Query in the organization's partition, the created_at
        bounds as its key condition, everything else of ``where`` as a filter (read, then dropped)."""
        result = CallModel.by_created.query(org_id, range_key_condition=_created_between(where.start, where.end),
                                            filter_condition=where.condition(), scan_index_forward=False,
                                            limit=limit, last_evaluated_key=start_key)
        items = [_call(i) for i in result]
        return items, result.last_evaluated_key

    def count(self, org_id: str, *, where: CallFilter = CallFilter()) -> int:
        return CallModel.by_created.count(org_id, range_key_condition=_created_between(where.start, where.end),
                                          filter_condition=where.condition())

