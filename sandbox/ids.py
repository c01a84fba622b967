"""Identifiers the fakes hand out (call SIDs, request and completion ids): random-looking, from one seeded generator.

They carry no secret (the fakes stand in for providers on a test machine), so a seeded PRNG is the
right tool: a run's ids can be replayed exactly with ``SANDBOX_SEED=<seed>``; without it each process
draws its seed once from the OS (so two processes never hand out the same ids) and keeps it in
``seed()`` for the report. Tokens that guard something (the dev stack's fake Twilio auth token) still
come from ``secrets``.
"""

from __future__ import annotations

import os
import random
import secrets
import threading
import uuid
from functools import lru_cache

_lock = threading.Lock()


@lru_cache(maxsize=1)
def seed() -> int:
    """This process's seed: ``SANDBOX_SEED`` when set, else 64 bits from the OS, drawn on first use."""
    raw = os.environ.get("SANDBOX_SEED")
    return int(raw) if raw else secrets.randbits(64)


@lru_cache(maxsize=1)
def _generator() -> random.Random:
    return random.Random(seed())  # noqa: S311 - ids of fake resources, not secrets; seeded to replay a run


def token_hex(nbytes: int) -> str:
    """``2 * nbytes`` lowercase hex digits, like ``secrets.token_hex`` but from the seeded generator."""
    with _lock:
        return _generator().getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()


def uuid4() -> str:
    """A version 4 UUID string from the seeded generator."""
    with _lock:
        bits = _generator().getrandbits(128)
    return str(uuid.UUID(int=bits, version=4))
