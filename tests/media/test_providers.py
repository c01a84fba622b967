"""media.providers: the ring-time extension point is what warm_up relies on, and imports point down."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from chalicelib.settings import reset_settings
from media.plan import build_plan
from media.providers import factory
from media.providers.base import PoolWarmable, RingTimeGreeter, RingTimeWarmable

MEDIA = Path(__file__).resolve().parents[2] / "media"
CALL_MODULES = ("media.call", "media.pipeline", "media.server", "media.transports", "media.prepared_calls")


@pytest.fixture(autouse=True)
def fresh_settings():
    reset_settings()
    yield
    reset_settings()


def plan_for(stt: str, llm: str, tts: str):
    config = {"stt_config": {"provider": stt}, "llm_config": {"provider": llm, "model": "m"},
              "tts_config": {"provider": tts, "voice_id": "v"}}
    return build_plan("org-1", "call-1", "outbound", {"config": config})


@pytest.mark.parametrize("kind, provider", [(kind, p) for kind, ps in factory.RING_TIME_PROVIDERS.items()
                                            for p in sorted(ps)])
def test_providers_listed_for_ring_time_build_warmable_services(kind, provider):
    plan = plan_for(provider if kind == "stt" else "deepgram", provider if kind == "llm" else "openai",
                    provider if kind == "tts" else "elevenlabs")
    service = {"stt": factory.build_stt, "llm": factory.build_llm, "tts": factory.build_tts}[kind](plan, "k")
    assert isinstance(service, RingTimeWarmable)
    assert factory.opens_at_ring_time(kind, provider)


def test_other_providers_connect_at_pipeline_start_and_chat_llms_warm_their_pool():
    plan = plan_for("gladia", "mistral", "inworld")
    assert not isinstance(factory.build_stt(plan, "k"), RingTimeWarmable)
    assert not isinstance(factory.build_tts(plan, "k"), RingTimeWarmable)
    assert not factory.opens_at_ring_time("stt", "gladia") and not factory.opens_at_ring_time("tts", "inworld")
    for llm in ("openai", "xai", "mistral"):
        assert isinstance(factory.build_llm(plan_for("deepgram", llm, "elevenlabs"), "k"), PoolWarmable)
    realtime = factory.build_llm(plan_for("deepgram", "xai_realtime", "elevenlabs"), "k")
    assert isinstance(realtime, RingTimeGreeter) and not isinstance(realtime, PoolWarmable)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


@pytest.mark.parametrize("path", sorted([*(MEDIA / "providers").glob("*.py"), MEDIA / "conversation.py"]),
                         ids=lambda p: p.name)
def test_providers_never_import_the_call_modules(path):
    assert not [name for name in _imports(path) if name.startswith(CALL_MODULES)]
