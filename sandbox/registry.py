"""Who says what on which call: the simulated caller registers its lines, the STT fakes read them.

A simulated caller knows the exact texts it will speak. It registers them, in order, under the call
id it got from the stream's ``start`` parameters. When a speech-to-text fake (Deepgram, xAI
realtime) hears the next utterance on that call's connection, it takes the next text from here, so
transcripts are exact while audio, timing and energy are real.

Finding the call id from a fake's connection:
- Deepgram: the standard ``tag`` query parameter (the media service passes ``tag=<call_id>``).
- Any fake: a ``sandbox_call_id`` query parameter, or a path prefix ``/sandbox/calls/<call_id>/``
  in front of the provider path (for clients that cannot add query parameters).
- Otherwise the connection is paired, at its first utterance, with the most recently updated
  registration that no connection (of any kind) has claimed and that was updated in the last
  ``FALLBACK_WINDOW_S`` seconds (good enough for one call at a time; stale registrations of
  earlier calls, and calls whose STT connection named its call id, are never picked).

In-process the module-level ``REGISTRY`` is shared by every fake (thread-safe: fakes run their own
event loops in background threads). Across processes (``make dev``) each async fake serves
``POST /sandbox/calls/{call_id}/utterances`` (``{"utterances": [...], "append": false}``) and
``GET``/``DELETE /sandbox/calls/{call_id}``; ``RemoteRegistry`` is the client for that.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Protocol

# Registrations older than this are dropped (a dev stack runs for hours).
MAX_AGE_S = 3 * 3600
# Fallback pairing only considers registrations updated this recently.
FALLBACK_WINDOW_S = 60.0


@dataclass
class CallRegistration:
    call_id: str
    utterances: list[str]
    created: float = field(default_factory=time.monotonic)
    updated: float = field(default_factory=time.monotonic)
    cursors: dict[str, int] = field(default_factory=dict)  # kind ("stt", "s2s") -> next index
    claimed_by: set[str] = field(default_factory=set)  # kinds paired by fallback or id

    def snapshot(self) -> dict:
        return {"call_id": self.call_id, "utterances": list(self.utterances), "cursors": dict(self.cursors)}


class UtteranceSink(Protocol):
    """What a simulated caller needs: register its lines (local or remote registry)."""

    def register(self, call_id: str, utterances: list[str], append: bool = False) -> None: ...


class Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, CallRegistration] = {}

    def register(self, call_id: str, utterances: list[str], append: bool = False) -> None:
        """Set (or with ``append`` extend) the ordered lines a caller will speak on ``call_id``."""
        with self._lock:
            self._expire()
            reg = self._calls.get(call_id)
            if reg is None:
                self._calls[call_id] = CallRegistration(call_id, list(utterances))
            elif append:
                reg.utterances.extend(utterances)
                reg.updated = time.monotonic()
            else:
                reg.utterances = list(utterances)
                reg.cursors.clear()
                reg.updated = time.monotonic()

    def get(self, call_id: str) -> CallRegistration | None:
        with self._lock:
            return self._calls.get(call_id)

    def remove(self, call_id: str) -> None:
        with self._lock:
            self._calls.pop(call_id, None)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    def claim(self, kind: str, call_id: str | None) -> str | None:
        """Resolve which call a connection of ``kind`` belongs to.

        With an id, that id (registered or not: it may be registered later). Without one, the most
        recently updated registration nobody has claimed, updated within ``FALLBACK_WINDOW_S``, or None.
        """
        with self._lock:
            if call_id:
                reg = self._calls.get(call_id)
                if reg is not None:
                    reg.claimed_by.add(kind)
                return call_id
            cutoff = time.monotonic() - FALLBACK_WINDOW_S
            candidates = [r for r in self._calls.values() if not r.claimed_by and r.updated >= cutoff]
            if not candidates:
                return None
            reg = max(candidates, key=lambda r: r.updated)
            reg.claimed_by.add(kind)
            return reg.call_id

    def next_utterance(self, kind: str, call_id: str | None) -> str | None:
        """The next registered text on ``call_id`` for this kind of consumer (None when exhausted)."""
        if not call_id:
            return None
        with self._lock:
            reg = self._calls.get(call_id)
            if reg is None:
                return None
            i = reg.cursors.get(kind, 0)
            if i >= len(reg.utterances):
                return None
            reg.cursors[kind] = i + 1
            return reg.utterances[i]

    def _expire(self) -> None:
        cutoff = time.monotonic() - MAX_AGE_S
        for cid in [c for c, r in self._calls.items() if r.created < cutoff]:
            del self._calls[cid]


REGISTRY = Registry()


class RemoteRegistry:
    """Registers utterances on a fake in another process over its HTTP endpoint."""

    def __init__(self, base_url: str, timeout: float = 5.0):
        self.base_url = base_url.rstrip("/").replace("ws://", "http://").replace("wss://", "https://")
        self.timeout = timeout

    def register(self, call_id: str, utterances: list[str], append: bool = False) -> None:
        body = json.dumps({"utterances": list(utterances), "append": append}).encode()
        req = urllib.request.Request(f"{self.base_url}/sandbox/calls/{call_id}/utterances", data=body,  # noqa: S310 - local fake URL
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - local fake URL
            resp.read()


class MultiRegistry:
    """Fan a registration out to several sinks (e.g. the Deepgram and xAI fakes of a dev stack)."""

    def __init__(self, sinks: list[UtteranceSink]):
        self.sinks = sinks

    def register(self, call_id: str, utterances: list[str], append: bool = False) -> None:
        for sink in self.sinks:
            sink.register(call_id, utterances, append)
