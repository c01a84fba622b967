"""From a call row to a call plan: the resolved assistant config, prompt, first message and tools.

Pure functions, no Pipecat types: the session and the pipeline builder read the plan.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, cast

from chalicelib.models.assistant import StartSpeakingPlan, StopSpeakingPlan, TranscriptionEndpointingPlan
from chalicelib.templating import render

PIPELINE_LLMS = ("openai", "xai", "mistral")
REALTIME_LLMS = ("xai_realtime",)
SUPPORTED_STT = ("deepgram", "elevenlabs", "gladia", "mistral")
SUPPORTED_TTS = ("elevenlabs", "inworld")

DEFAULT_STT = {"provider": "deepgram", "model": "nova-3-general", "language": "en"}
DEFAULT_LLM = {"provider": "openai", "model": "gpt-4o-mini"}
DEFAULT_TTS = {"provider": "elevenlabs", "voice_id": "21m00Tcm4TlvDq8ikWAM", "model": "eleven_flash_v2_5"}
DEFAULT_PROMPT = "You are a helpful, concise phone assistant. Keep answers short: they are spoken aloud."


class UnsupportedConfig(ValueError):
    """The assistant config cannot be run (unknown provider or combination)."""


def fill_variables(text: str | None, variables: dict[str, Any] | None) -> str | None:
    """Replace ``{{name}}`` placeholders; unknown names stay as they are."""
    if not text or not variables:
        return text
    return render(text, variables)


@dataclass(frozen=True)
class TurnSettings:
    """How a caller's turn ends and what interrupts the agent (the assistant's speaking plans, defaults filled)."""

    wait_seconds: float = 0.0
    smart_endpointing: bool = True
    max_wait_seconds: float = 3.0
    on_punctuation_seconds: float = 0.1
    on_no_punctuation_seconds: float = 1.5
    on_number_seconds: float = 1.2
    stt_endpointing_ms: int = 300  # Deepgram `endpointing` (stt_config.endpointing is in seconds)
    num_words: int = 0
    voice_seconds: float = 0.1
    backoff_seconds: float = 1.0
    acknowledgement_phrases: tuple[str, ...] = ()


def turn_settings(config: dict[str, Any], stt: dict[str, Any] | None) -> TurnSettings:
    """The speaking plans of a stored config (only the fields a client set are stored) with defaults."""
    from pydantic import ValidationError

    try:
        start = StartSpeakingPlan.model_validate(config.get("start_speaking_plan") or {})
        stop = StopSpeakingPlan.model_validate(config.get("stop_speaking_plan") or {})
    except ValidationError as exc:  # the API validated it; a row written some other way must not crash the call
        raise UnsupportedConfig(
            f"invalid start_speaking_plan / stop_speaking_plan: {exc.error_count()} error(s)") from exc
    words = start.transcription_endpointing_plan or TranscriptionEndpointingPlan()
    endpointing = (stt or {}).get("endpointing")
    return TurnSettings(
        wait_seconds=start.wait_seconds, smart_endpointing=start.smart_endpointing_enabled,
        max_wait_seconds=start.max_wait_seconds, on_punctuation_seconds=words.on_punctuation_seconds,
        on_no_punctuation_seconds=words.on_no_punctuation_seconds, on_number_seconds=words.on_number_seconds,
        stt_endpointing_ms=300 if endpointing is None else round(float(endpointing) * 1000),
        num_words=stop.num_words, voice_seconds=stop.voice_seconds, backoff_seconds=stop.backoff_seconds,
        acknowledgement_phrases=tuple(stop.acknowledgement_phrases or ()))


@dataclass
class ToolSpec:
    kind: str  # function | endCall | transferCall
    name: str
    description: str
    parameters: dict[str, Any]
    url: str | None = None
    is_async: bool = False
    async_response: str | None = None
    message: str | None = None  # endCall goodbye
    destinations: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CallPlan:
    org_id: str
    call_id: str
    direction: str
    assistant_id: str | None
    config: dict[str, Any]
    stt: dict[str, Any] | None
    llm: dict[str, Any]
    tts: dict[str, Any] | None
    system_prompt: str
    history: list[dict[str, Any]]
    first_message: str | None
    tools: list[ToolSpec]
    metadata: dict[str, Any]
    variables: dict[str, Any]
    max_duration_seconds: int
    silence_handling: bool
    silence_timeout_seconds: float
    voicemail_detection: bool
    voicemail_message: str | None
    gdpr_mode: bool
    webhook_url: str | None
    number_id: str | None
    caller_phone: str | None
    assistant_phone: str | None
    recording_enabled: bool = True  # the assistant's switch (gdpr_mode wins: media/recording.py)
    turn: TurnSettings = field(default_factory=TurnSettings)
    # The stream of a live call was cut (its task died) and this task takes it over: the history is the
    # persisted transcript, there is no greeting, and the agent apologises and carries on.
    resumed: bool = False

    @property
    def realtime(self) -> bool:
        return self.llm.get("provider") in REALTIME_LLMS

    def tool(self, name: str) -> ToolSpec | None:
        return next((t for t in self.tools if t.name == name), None)


def _tool_specs(raw_tools: list[dict[str, Any]], silence_handling: bool) -> list[ToolSpec]:
    specs: list[ToolSpec] = []
    for raw in raw_tools or []:
        kind = raw.get("type", "function")
        if kind == "function":
            specs.append(ToolSpec(
                kind="function", name=raw["name"], description=raw.get("description") or "",
                parameters=raw.get("parameters") or {"type": "object", "properties": {}},
                url=raw.get("url"), is_async=bool(raw.get("async_") or raw.get("async")),
                async_response=raw.get("async_response") or raw.get("asyncResponse")))
        elif kind in ("endCall", "end_call"):
            specs.append(ToolSpec(
                kind="endCall", name=raw.get("name") or "endCall",
                description=raw.get("description") or "End the call when the conversation is over "
                "or the caller says goodbye.",
                parameters={"type": "object", "properties": {}}, message=raw.get("message")))
        elif kind in ("transferCall", "transfer_call"):
            dests: list[dict[str, Any]] = raw.get("destinations") or []
            targets: list[str | None] = [d.get("number") or d.get("sip_uri") for d in dests]
            lines = "; ".join(f"{t}: {d.get('description') or ''}" for t, d in zip(targets, dests, strict=False))
            specs.append(ToolSpec(
                kind="transferCall", name=raw.get("name") or "transferCall",
                description=(raw.get("description") or "Transfer the caller to a human or another line.")
                + f" Destinations: {lines}",
                parameters={"type": "object", "properties": {
                    "destination": {"type": "string", "enum": targets,
                                    "description": "The destination to transfer to."}},
                    "required": ["destination"]},
                destinations=dests))
    if silence_handling and not any(s.kind == "endCall" for s in specs):
        specs.append(ToolSpec(kind="endCall", name="endCall",
                              description="End the call when the conversation is over or the caller says goodbye.",
                              parameters={"type": "object", "properties": {}}))
    return specs


def resume_history(transcript: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored transcript (``media.call.transcript``) back as LLM messages, so the resumed call's own
    transcript starts with exactly the stored one (tool calls and results included)."""
    out: list[dict[str, Any]] = []
    for m in transcript:
        role = m.get("role")
        if role in ("user", "assistant") and m.get("content"):
            out.append({"role": role, "content": str(m["content"])})
        elif role == "tool_call":
            out.append({"role": "assistant", "tool_calls": [{
                "id": m.get("tool_call_id") or "", "type": "function",
                "function": {"name": m.get("name") or "", "arguments": m.get("arguments") or "{}"}}]})
        elif role == "tool":
            content = m.get("content")
            out.append({"role": "tool", "tool_call_id": m.get("tool_call_id") or "",
                        "content": content if isinstance(content, str) else json.dumps(content)})
    return out


def build_plan(org_id: str, call_id: str, direction: str, data: dict[str, Any]) -> CallPlan:
    """Resolve the call row's data into a plan. Raises UnsupportedConfig for unusable configs."""
    config = dict(data.get("config") or {})
    variables = dict(data.get("variables") or {})
    llm: dict[str, Any] = dict(config.get("llm_config") or DEFAULT_LLM)
    stt = config.get("stt_config")
    tts = config.get("tts_config")
    provider = llm.get("provider")
    if provider in REALTIME_LLMS:
        stt, tts = None, None
        if llm.get("voice") and llm["voice"].lower() not in ("ara", "rex", "sal", "eve", "leo"):
            raise UnsupportedConfig(f"xai_realtime voice '{llm['voice']}' is not supported")
    elif provider in PIPELINE_LLMS:
        stt = dict(stt or DEFAULT_STT)
        tts = dict(tts or DEFAULT_TTS)
        if stt.get("provider") not in SUPPORTED_STT:
            raise UnsupportedConfig(f"STT provider '{stt.get('provider')}' is not supported")
        if tts.get("provider") not in SUPPORTED_TTS:
            raise UnsupportedConfig(f"TTS provider '{tts.get('provider')}' is not supported")
    else:
        raise UnsupportedConfig(f"LLM provider '{provider}' is not supported")

    messages = list(llm.get("messages") or [])
    system_parts = [m["content"] for m in messages if m.get("role") == "system"]
    history = [{"role": m["role"], "content": fill_variables(m["content"], variables) or ""}
               for m in messages if m.get("role") in ("user", "assistant")]
    system = "\n\n".join(system_parts) or DEFAULT_PROMPT
    context = data.get("context")
    if context:
        system = f"{system}\n\n{context}"
    system = fill_variables(system, variables) or ""

    first = data.get("first_message")
    if first is None:
        first = config.get("first_message")
    first = fill_variables(first, variables)
    stored: list[Any] = data.get("messages") or []
    persisted: list[dict[str, Any]] = [cast("dict[str, Any]", m) for m in stored if isinstance(m, dict)]
    if persisted:  # a live call whose earlier stream was cut: carry on from what was said
        history, first = resume_history(persisted), None

    silence = bool(config.get("autonomous_silence_handling"))
    return CallPlan(
        org_id=org_id, call_id=call_id, direction=direction, assistant_id=data.get("assistant_id"),
        config=config, stt=stt, llm=llm, tts=tts, system_prompt=system, history=history,
        first_message=first or None, tools=_tool_specs(llm.get("tools") or [], silence),
        metadata=dict(data.get("metadata") or config.get("metadata") or {}), variables=variables,
        max_duration_seconds=int(config.get("max_duration_seconds") or 600),
        silence_handling=silence,
        silence_timeout_seconds=float(config.get("silence_timeout_seconds") or 7),
        voicemail_detection=bool(config.get("voicemail_detection")) and direction == "outbound" and not persisted,
        voicemail_message=config.get("voicemail_message") or None,
        gdpr_mode=bool(config.get("gdpr_mode")),
        webhook_url=config.get("webhook_url"),
        number_id=data.get("number_id"),
        caller_phone=data.get("caller_phone"), assistant_phone=data.get("assistant_phone"),
        recording_enabled=config.get("recording_enabled") is not False,
        turn=turn_settings(config, stt),
        resumed=bool(persisted),
    )


def mask_number(number: str | None) -> str:
    if not number:
        return ""
    return number[:3] + "*" * max(0, len(number) - 5) + number[-2:]
