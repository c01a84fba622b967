"""The media service's deployment settings: one typed model read from the environment.

The CDK stack (``infra/stacks/media.py``) sets these variables by the same names; a test compares
the two so a variable the stack sets that nothing reads, or a ``deployed()`` one it forgets, fails.
The control-plane settings the media process also reads (tables, secrets, provider URLs) live in
``chalicelib.settings``.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from chalicelib.settings import deployed

DEFAULT_THREADS = 64
# Concurrent calls one core carries before voice-to-voice p95 rises 10 % over a single call's: the low end
# of bench/media_latency.py --sweep (30-45, docs/media.md). The stack scales out at 20 per 1-vCPU task.
CALLS_PER_CORE = 30
DEFAULT_MAX_CALLS = CALLS_PER_CORE  # a 1-vCPU task (the stack's size): MEDIA_MAX_CALLS it sets


class StartupRefused(RuntimeError):
    """The process must not take calls with this environment (fail closed); the message says why."""


class MediaSettings(BaseSettings):
    """Environment of one media process (names are the upper-case field names)."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    media_host: str = "127.0.0.1"
    # Twilio Media Streams (and other caller sockets) plus health/readiness.
    media_port: int = deployed(8765, ge=1, le=65535)
    # Signed control endpoints (prepare, commands) on their own port; 0 = served on media_port.
    media_control_port: int = deployed(0, ge=0, le=65535)
    # The control URL this process records on its calls; unset = derived (ECS metadata, then loopback).
    media_control_advertise_url: str | None = None
    # wss:// URL Twilio connects to: the X-Twilio-Signature of the stream upgrade is checked against it.
    media_public_ws_url: str | None = deployed()
    media_threads: int = Field(default=DEFAULT_THREADS, ge=1)
    # Speculative replies on stable interim transcripts (docs/media.md).
    media_speculative_replies: bool = True
    # The ActiveCalls metric autoscaling tracks (unset = not published).
    active_calls_metric_namespace: str | None = deployed()
    active_calls_metric_name: str | None = deployed()
    active_calls_metric_service: str | None = deployed()
    log_level: str = "INFO"
    # Eval callers (media.evalcaller, docs/evals.md): the persona's chat model, the TTS voice when the
    # scenario names none (an ElevenLabs voice id), and, in the sandbox only, where the caller registers
    # what it says for the STT fakes (comma-separated; the dev stack sets it).
    eval_caller_model: str = "gpt-4o-mini"
    eval_caller_voice_id: str = "21m00Tcm4TlvDq8ikWAM"
    # How the persona hears the agent: the socket's transcript events, or Deepgram over the agent's audio.
    eval_caller_hearing: Literal["transcript", "deepgram"] = "transcript"
    sandbox_registry_urls: str | None = None
    # Set by the ECS agent (not the stack): the task metadata endpoint the control address is read from.
    ecs_container_metadata_uri_v4: str | None = None
    # Set by the ECS agent: task scale-in protection is requested there while calls are live.
    ecs_agent_uri: str | None = None

    # Admission: concurrent calls this process serves (unset = calls per core x the cores it may use).
    media_max_calls: int | None = deployed(None, ge=1)
    media_calls_per_core: int = Field(default=CALLS_PER_CORE, ge=1)

    def startup_error(self, *, twilio_account_sid: str | None, twilio_auth_token: str | None) -> str | None:
        """Why this process must not start (fail closed), or None."""
        if twilio_account_sid and twilio_auth_token and not self.media_public_ws_url:
            return ("MEDIA_PUBLIC_WS_URL is not set but Twilio credentials are: the X-Twilio-Signature of "
                    "stream upgrades could not be checked. Set it to the wss:// URL Twilio connects to.")
        return None

    @property
    def max_calls(self) -> int:
        """This process's capacity in concurrent calls."""
        return self.media_max_calls or self.media_calls_per_core * available_cpus()


def available_cpus() -> int:
    """Cores this process may use: the cgroup CPU quota (a Fargate task's vCPUs), else its CPU affinity."""
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="ascii") as f:  # cgroup v2: "<quota> <period>" or "max ..."
            quota, period = f.read().split()[:2]
        if quota != "max":
            return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(1, len(os.sched_getaffinity(0)))


@lru_cache(maxsize=1)
def get_media_settings() -> MediaSettings:
    """Read and validate once per process."""
    return MediaSettings()


def reset_media_settings() -> None:
    """Forget cached settings (tests change the environment between cases)."""
    get_media_settings.cache_clear()
