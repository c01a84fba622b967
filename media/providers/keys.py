"""Provider keys for a call, through the media service's control-plane port.

Blocking (DynamoDB, KMS): run in a thread. No cache here: the control-plane side owns the one cache.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from media.controlplane import control_plane

if TYPE_CHECKING:
    from media.plan import CallPlan
    from media.providers.base import ProviderKey, Slot

# A provider whose key is another provider's: xAI realtime uses the org's xAI key.
KEY_PROVIDER = {"xai_realtime": "xai"}


def key_provider(provider: str) -> str:
    """The provider whose key a service of ``provider`` uses."""
    return KEY_PROVIDER.get(provider, provider)


def provider_key(org_id: str, provider: str) -> ProviderKey:
    """(key, is_byok) for one key provider (see ``key_provider``): the org's own key, else the platform's."""
    return control_plane().provider_key(org_id, provider)


def resolve_keys(plan: CallPlan) -> dict[Slot, ProviderKey]:
    """Every key the plan needs, by pipeline slot (blocking: run it in a thread)."""
    slots: dict[Slot, str] = {"llm": plan.llm["provider"]}
    if not plan.realtime:
        assert plan.stt is not None and plan.tts is not None  # noqa: S101 - a cascade plan has both
        slots["stt"], slots["tts"] = plan.stt["provider"], plan.tts["provider"]
    return {kind: provider_key(plan.org_id, key_provider(provider)) for kind, provider in slots.items()}
