"""OpenAI-compatible LLMs on the process's shared HTTP pool: OpenAI and xAI Grok (Mistral reuses the mixin).

Pipecat builds a new HTTP client per service: ~20 ms of TLS-context setup on the loop at each call
start, and a fresh TCP+TLS connection on each call's first request. These services use the loop's
shared keep-alive client (``media.providers.pool``) instead, and warm it at ring time
(:class:`~media.providers.base.PoolWarmable`). Their class names are Pipecat's own: Pipecat names
processors after the class (logs, error routing by name).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, TypeVar

import openai
from pipecat.services.openai import llm as pipecat_openai
from pipecat.services.openai.base_llm import BaseOpenAILLMService, OpenAILLMSettings
from pipecat.services.xai import llm as pipecat_xai

from chalicelib.settings import get_settings
from media.providers.base import http_url
from media.providers.pool import shared_http_client
from media.providers.ringtime import CONNECT_TIMEOUT_SECONDS

if TYPE_CHECKING:
    from collections.abc import Mapping

    from media.plan import CallPlan

log = logging.getLogger("voice.media.warm")


class PooledClientMixin(BaseOpenAILLMService):
    """For Pipecat's OpenAI-compatible LLM services: the AsyncOpenAI client uses the shared pool."""

    def create_client(self, api_key: str | None = None, base_url: str | None = None,
                      organization: str | None = None, project: str | None = None,
                      default_headers: Mapping[str, str] | None = None, **kwargs: Any) -> openai.AsyncOpenAI:
        http = shared_http_client()
        if http is None:  # built outside a loop (config mapping): Pipecat's own per-service client
            return super().create_client(api_key=api_key, base_url=base_url, organization=organization,  # pyright: ignore[reportUnknownMemberType] - Pipecat's untyped parameters
                                         project=project, default_headers=default_headers, **kwargs)
        return openai.AsyncOpenAI(api_key=api_key, base_url=base_url, organization=organization, project=project,
                                  http_client=http, default_headers=default_headers)

    async def warm_connections(self, count: int) -> bool:
        """Open pooled connections to the LLM's API with cheap concurrent requests; any HTTP answer will do."""
        client = self._client.with_options(max_retries=0, timeout=CONNECT_TIMEOUT_SECONDS)

        async def one() -> None:
            try:
                await client.models.list()
            except openai.APIStatusError:
                pass  # an error status still came over a connection that is now open and pooled

        try:
            await asyncio.gather(*(one() for _ in range(count)))
        except Exception as exc:  # noqa: BLE001 - down or slow: the call connects on its first request, as without prepare
            log.info("ring-time LLM warm-up failed: %s", type(exc).__name__)
            return False
        return True


class OpenAILLMService(PooledClientMixin, pipecat_openai.OpenAILLMService):
    """Pipecat's OpenAI LLM service on the shared pool."""


class GrokLLMService(PooledClientMixin, pipecat_xai.GrokLLMService):
    """Pipecat's xAI Grok (chat completions) LLM service on the shared pool."""


SettingsT = TypeVar("SettingsT", bound=OpenAILLMSettings)


def chat_settings(settings_cls: type[SettingsT], plan: CallPlan, default_model: str) -> SettingsT:
    """A chat-completions service's settings from ``llm_config``: the model (or the default) and temperature."""
    cfg = plan.llm
    settings = settings_cls(model=cfg.get("model") or default_model)
    if cfg.get("temperature") is not None:
        settings.temperature = cfg["temperature"]
    return settings


def build_llm(plan: CallPlan, key: str) -> OpenAILLMService:
    """OpenAI chat completions; ``OPENAI_BASE_URL`` (settings) points it at a fake."""
    settings = chat_settings(OpenAILLMService.Settings, plan, "gpt-4o-mini")
    return OpenAILLMService(api_key=key, base_url=get_settings().openai_base_url or None, settings=settings)


def build_xai_llm(plan: CallPlan, key: str) -> GrokLLMService:
    """xAI Grok chat completions (OpenAI-compatible) at ``{XAI_URL}/v1``."""
    s = get_settings()
    settings = chat_settings(GrokLLMService.Settings, plan, "grok-4.20-non-reasoning")
    base = (s.xai_url.rstrip("/") + "/v1") if s.xai_url else "https://api.x.ai/v1"
    return GrokLLMService(api_key=key, base_url=http_url(base), settings=settings)
