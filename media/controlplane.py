"""The media service's port to the control plane (minimal stand-in; the full port replaces it at merge).

Only what ``media.providers`` needs: the provider key for an org. Synchronous (DynamoDB, KMS): call
it in a thread, never on the event loop.
"""

from __future__ import annotations

import os
from functools import cache

from chalicelib.settings import PLATFORM_KEY_ENV


class ControlPlane:
    """The control plane as the media service sees it (in-process: the shared ``chalicelib`` services)."""

    def provider_key(self, org_id: str, provider: str) -> tuple[str, bool]:
        """(key, is_byok): the org's BYOK key, else the platform key, else ``sandbox-key`` (local runs).

        The BYOK service caches keys per process (60 s), so a busy task does not hit DynamoDB per call.
        """
        try:
            from chalicelib.services.byok import provider_key as byok_key
        except ImportError:  # BYOK service not deployed in this build
            byok_key = None
        if byok_key is not None:
            key, is_byok = byok_key(org_id, provider)
            if key:
                return key, is_byok
        return os.environ.get(PLATFORM_KEY_ENV.get(provider, ""), "") or "sandbox-key", False


@cache
def control_plane() -> ControlPlane:
    """The process's control-plane port (built on first use)."""
    return ControlPlane()
