"""Greeting audio kept in memory per (org, first message + TTS settings), so a static first message
(the common case: one greeting per assistant) is synthesized once per process and then plays the moment
a stream starts, however short the ring. A TTS first byte alone (~100 ms) plus the call's setup would
otherwise take most of a 150 ms budget on a call with no ring (inbound).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

GREETING_CACHE_BYTES = 8 * 1024 * 1024  # ~17 min of mu-law over all greetings: small beside a call's buffers
GREETING_CACHE_ITEM_BYTES = 400 * 1024  # ~50 s: longer first messages are not kept (as in the greeting store)

CacheKey = tuple[str, str]  # (org id, greeting fingerprint)


class GreetingCache:
    """Least recently used greeting audio, bounded in bytes."""

    def __init__(self, max_bytes: int = GREETING_CACHE_BYTES, max_item_bytes: int = GREETING_CACHE_ITEM_BYTES) -> None:
        self.max_bytes, self.max_item_bytes = max_bytes, max_item_bytes
        self._items: OrderedDict[CacheKey, bytes] = OrderedDict()
        self._size = 0

    def get(self, key: CacheKey) -> bytes | None:
        audio = self._items.get(key)
        if audio is not None:
            self._items.move_to_end(key)
        return audio

    def put(self, key: CacheKey, audio: bytes) -> None:
        if not audio or len(audio) > self.max_item_bytes:
            return
        old = self._items.pop(key, None)
        self._size -= len(old) if old is not None else 0
        self._items[key] = audio
        self._size += len(audio)
        while self._size > self.max_bytes:
            _, dropped = self._items.popitem(last=False)
            self._size -= len(dropped)

    def __len__(self) -> int:
        return len(self._items)


_CACHES: dict[asyncio.AbstractEventLoop, GreetingCache] = {}


def greeting_cache() -> GreetingCache:
    """The running loop's cache: one per media process (tests run one server per loop, so none shares it)."""
    loop = asyncio.get_running_loop()
    cache = _CACHES.get(loop)
    if cache is None:
        for old in [lp for lp in _CACHES if lp.is_closed()]:
            _CACHES.pop(old, None)
        cache = _CACHES[loop] = GreetingCache()
    return cache
