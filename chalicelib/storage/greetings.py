"""Ring-time greeting audio per call, shared by the media tasks (see docs/media.md, "Greeting store")."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from pynamodb.exceptions import DoesNotExist

from chalicelib.storage.tables import GreetingModel

# DynamoDB's item limit is 400 KB; keys and the fingerprint need a little room (~48 s of mu-law).
MAX_GREETING_BYTES = 380_000


@dataclass(frozen=True)
class StoredGreeting:
    org_id: str
    call_id: str
    fingerprint: str
    audio: bytes


class GreetingRepository:
    def put(self, greeting: StoredGreeting, ttl_seconds: int) -> bool:
        """Store it for ``ttl_seconds``; False (nothing written) when it is too large for one item."""
        if not greeting.audio or len(greeting.audio) > MAX_GREETING_BYTES:
            return False
        expires = datetime.fromtimestamp(time.time() + ttl_seconds, tz=UTC)
        GreetingModel(greeting.org_id, greeting.call_id, fingerprint=greeting.fingerprint, audio=greeting.audio,
                      expires=expires).save()
        return True

    def get(self, org_id: str, call_id: str) -> StoredGreeting | None:
        """The call's greeting, or None when there is none or it expired (TTL deletion lags)."""
        try:
            item = GreetingModel.get(org_id, call_id, consistent_read=True)
        except DoesNotExist:
            return None
        if item.expires.timestamp() <= time.time():
            return None
        return StoredGreeting(org_id, call_id, item.fingerprint, item.audio)

    def delete(self, org_id: str, call_id: str) -> None:
        """Forget it (the call started; deleting a missing item is a no-op)."""
        GreetingModel(org_id, call_id).delete()
