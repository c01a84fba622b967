"""The media service's deployment settings: one typed model read from the environment.

The CDK stack (``infra/stacks/media.py``) sets these variables by the same names; a test compares
the two so a variable the stack sets that nothing reads, or a required one it forgets, fails.
The control-plane settings the media process also reads (tables, secrets, provider URLs) live in
``chalicelib.settings``.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_THREADS = 64
# Calls one process (one core) holds before v2v p95 rises 10 % above the 1-call figure: the bench's
# 30-45 calls per core (docs/media.md), its lower end. One process serves one core, so tasks are 1 vCPU.
DEFAULT_MAX_CALLS = 30


class StartupRefused(RuntimeError):
    """The process must not take calls with this environment (fail closed); the message says why."""


class MediaSettings(BaseSettings):
    """Environment of one media process (names are the upper-case field names)."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    media_host: str = "127.0.0.1"
    # Twilio Media Streams (and other caller sockets) plus health/readiness.
    media_port: int = Field(default=8765, ge=1, le=65535)
    # Signed control endpoints (prepare, commands) on their own port; 0 = served on media_port.
    media_control_port: int = Field(default=0, ge=0, le=65535)
    # The control URL this process records on its calls; unset = derived (ECS metadata, then loopback).
    media_control_advertise_url: str | None = None
    # wss:// URL Twilio connects to: the X-Twilio-Signature of the stream upgrade is checked against it.
    media_public_ws_url: str | None = None
    media_threads: int = Field(default=DEFAULT_THREADS, ge=1)
    # Capacity in concurrent calls (admission uses it; the stack sets it with the task's CPU).
    media_max_calls: int = Field(default=DEFAULT_MAX_CALLS, ge=1)
    media_speculative_replies: bool = True
    media_speculate_quiet_ms: int = Field(default=120, ge=0)
    active_calls_metric_namespace: str | None = None
    active_calls_metric_name: str | None = None
    active_calls_metric_service: str | None = None
    log_level: str = "INFO"
    # Set by the ECS agent (not the stack): the task metadata endpoint the control address is read from.
    ecs_container_metadata_uri_v4: str | None = None
    # Set by the ECS agent: task scale-in protection is requested there while calls are live.
    ecs_agent_uri: str | None = None

    def startup_error(self, *, twilio_account_sid: str | None, twilio_auth_token: str | None) -> str | None:
        """Why this process must not start (fail closed), or None."""
        if twilio_account_sid and twilio_auth_token and not self.media_public_ws_url:
            return ("MEDIA_PUBLIC_WS_URL is not set but Twilio credentials are: the X-Twilio-Signature of "
                    "stream upgrades could not be checked. Set it to the wss:// URL Twilio connects to.")
        return None


@lru_cache(maxsize=1)
def get_media_settings() -> MediaSettings:
    """Read and validate once per process."""
    return MediaSettings()


def reset_media_settings() -> None:
    """Forget cached settings (tests change the environment between cases)."""
    get_media_settings.cache_clear()
