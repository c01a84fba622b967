"""The authenticated caller of an API request (made by the auth service, read by the API edge)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """An org acting through one API key (the key's hash names its rate-limit bucket)."""

    org_id: str
    key_hash: str
