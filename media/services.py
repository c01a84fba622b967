"""Assistant config -> Pipecat services (STT, LLM, TTS or one speech-to-speech service).

Every provider URL comes from settings so a protocol-faithful fake can stand in. Provider keys come
from the org's BYOK key, else the platform key (``chalicelib.services.byok.provider_key``).
"""

from __future__ import annotations

import audioop  # noqa: F401  (stdlib in 3.11; mu-law <-> linear16 is exact)
import os
from dataclasses import dataclass
from typing import Any

from chalicelib.settings import PLATFORM_KEY_ENV, get_settings
from media.plan import CallPlan, ToolSpec, UnsupportedConfig

SAMPLE_RATE = 8000


_KEY_CACHE: dict[tuple[str, str], tuple[float, tuple[str, bool]]] = {}
KEY_CACHE_SECONDS = 60.0


def cached_provider_key(org_id: str, provider: str) -> tuple[str, bool]:
    """provider_key with a short per-process cache: a busy task must not hit DynamoDB per call."""
    import time

    now = time.monotonic()
    hit = _KEY_CACHE.get((org_id, provider))
    if hit and now - hit[0] < KEY_CACHE_SECONDS:
        return hit[1]
    value = provider_key(org_id, provider)
    _KEY_CACHE[(org_id, provider)] = (now, value)
    return value


def resolve_keys(plan: CallPlan) -> dict[str, tuple[str, bool]]:
    """Every key the plan needs (blocking: run it in a thread), by pipeline slot."""
    slots = {"llm": plan.llm["provider"]}
    if not plan.realtime:
        slots.update(stt=plan.stt["provider"], tts=plan.tts["provider"])
    return {kind: cached_provider_key(plan.org_id, _KEY_PROVIDER.get(p, p)) for kind, p in slots.items()}


def provider_key(org_id: str, provider: str) -> tuple[str, bool]:
    """(key, is_byok). Delegates to the BYOK service; falls back to the platform key env var."""
    try:
        from chalicelib.services.byok import provider_key as byok_key
    except ImportError:  # BYOK service not deployed in this build
        byok_key = None
    if byok_key is not None:
        key, is_byok = byok_key(org_id, provider)
        if key:
            return key, is_byok
    return os.environ.get(PLATFORM_KEY_ENV.get(provider, ""), "") or "sandbox-key", False


@dataclass
class Services:
    stt: Any | None
    llm: Any
    tts: Any | None
    byok: dict[str, bool]


def _ws(url: str) -> str:
    return url.replace("https://", "wss://").replace("http://", "ws://")


def _http(url: str) -> str:
    return url.replace("wss://", "https://").replace("ws://", "http://")


def _language(code: str | None):
    from pipecat.transcriptions.language import Language

    if not code:
        return None
    try:
        return Language(code)
    except ValueError:
        return code


def build_stt(plan: CallPlan, key: str):
    cfg = plan.stt or {}
    provider = cfg.get("provider")
    s = get_settings()
    if provider == "deepgram":
        from pipecat.services.deepgram.stt import DeepgramSTTService

        language = cfg.get("language") or "en"
        extra: dict[str, Any] = {"vad_events": True}
        settings = DeepgramSTTService.Settings(
            model=cfg.get("model") or "nova-3-general", language=language,
            interim_results=True, punctuate=True, smart_format=False, endpointing=300,
            utterance_end_ms=1000, profanity_filter=False, extra=extra)
        if cfg.get("keyterms"):
            settings.keyterm = list(cfg["keyterms"])
        import deepgram.listen.v1.client as listen

        _without_deflate(listen, "websockets_client_connect")
        return DeepgramSTTService(api_key=key, base_url=s.deepgram_url or "", sample_rate=SAMPLE_RATE,
                                  encoding="linear16", tag=plan.call_id, settings=settings)
    if provider == "elevenlabs":
        from pipecat.services.elevenlabs.stt import CommitStrategy, ElevenLabsRealtimeSTTService

        base = (s.elevenlabs_url or "api.elevenlabs.io").split("://")[-1]
        return ElevenLabsRealtimeSTTService(
            api_key=key, base_url=base, commit_strategy=CommitStrategy.VAD,
            sample_rate=cfg.get("sample_rate") or SAMPLE_RATE,
            include_timestamps=bool(cfg.get("include_timestamps")),
            settings=ElevenLabsRealtimeSTTService.Settings(
                model=cfg.get("model") or "scribe_v2_realtime", language=_language(cfg.get("language"))))
    if provider == "gladia":
        from pipecat.services.gladia.config import (
            CustomVocabularyConfig,
            LanguageConfig,
            RealtimeProcessingConfig,
            TranslationConfig,
        )
        from pipecat.services.gladia.stt import GladiaSTTService

        languages = cfg.get("languages") or ([cfg["language"]] if cfg.get("language") not in (None, "multi") else None)
        rt = RealtimeProcessingConfig(
            custom_vocabulary=bool(cfg.get("custom_vocabulary")) or None,
            custom_vocabulary_config=CustomVocabularyConfig(vocabulary=list(cfg["custom_vocabulary"]))
            if cfg.get("custom_vocabulary") else None,
            translation=bool(cfg.get("translation_enabled")) or None,
            translation_config=TranslationConfig(target_languages=cfg.get("translation_target_languages"))
            if cfg.get("translation_enabled") else None)
        settings = GladiaSTTService.Settings(
            model=cfg.get("model") or "solaria-1", endpointing=cfg.get("endpointing"),
            language_config=LanguageConfig(languages=languages, code_switching=cfg.get("code_switching")),
            realtime_processing=rt, custom_metadata={"call_id": plan.call_id})
        kwargs: dict[str, Any] = {}
        if s.gladia_url:
            kwargs["url"] = s.gladia_url.rstrip("/") + "/v2/live"
        return GladiaSTTService(api_key=key, region=cfg.get("region"), sample_rate=SAMPLE_RATE,
                                settings=settings, **kwargs)
    if provider == "mistral":
        from pipecat.services.mistral.stt import MistralSTTService

        return MistralSTTService(api_key=key, base_url=s.mistral_url or None, sample_rate=SAMPLE_RATE,
                                 settings=MistralSTTService.Settings(
                                     model=cfg.get("model") or "voxtral-mini-latest",
                                     language=_language(cfg.get("language"))))
    raise UnsupportedConfig(f"STT provider '{provider}' is not supported")


def _without_deflate(module: Any, name: str) -> None:
    """Make ``module.<name>`` (the websockets connect an SDK calls) offer no permessage-deflate.

    Deflating every 20 ms audio frame (PCM, or base64 in JSON) gains little and cost ~6% of the media
    process's CPU per socket against a server that accepts it. Neither the Deepgram SDK nor Pipecat's
    xAI realtime service has an option for it, so the name they call is wrapped, once.
    """
    connect = getattr(module, name)
    if getattr(connect, "no_deflate", False):
        return

    def no_deflate(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("compression", None)
        return connect(*args, **kwargs)

    no_deflate.no_deflate = True  # type: ignore[attr-defined]
    setattr(module, name, no_deflate)


def build_llm(plan: CallPlan, key: str):
    cfg = plan.llm
    provider = cfg.get("provider")
    s = get_settings()
    temperature = cfg.get("temperature")
    from media.warm import pooled_llm_class  # one kept-alive HTTP pool per process, warmed at ring time

    if provider == "openai":
        from pipecat.services.openai.llm import OpenAILLMService

        OpenAILLMService = pooled_llm_class(OpenAILLMService)
        settings = OpenAILLMService.Settings(model=cfg.get("model") or "gpt-4o-mini")
        if temperature is not None:
            settings.temperature = temperature
        return OpenAILLMService(api_key=key, base_url=s.openai_base_url or None, settings=settings)
    if provider == "xai":
        from pipecat.services.xai.llm import GrokLLMService

        GrokLLMService = pooled_llm_class(GrokLLMService)
        settings = GrokLLMService.Settings(model=cfg.get("model") or "grok-4.20-non-reasoning")
        if temperature is not None:
            settings.temperature = temperature
        base = (s.xai_url.rstrip("/") + "/v1") if s.xai_url else "https://api.x.ai/v1"
        return GrokLLMService(api_key=key, base_url=_http(base), settings=settings)
    if provider == "mistral":
        from pipecat.services.mistral.llm import MistralLLMService

        MistralLLMService = pooled_llm_class(MistralLLMService)
        settings = MistralLLMService.Settings(model=cfg.get("model") or "mistral-small-latest")
        if temperature is not None:
            settings.temperature = temperature
        base = (s.mistral_url.rstrip("/") + "/v1") if s.mistral_url else "https://api.mistral.ai/v1"
        return MistralLLMService(api_key=key, base_url=base, settings=settings)
    if provider == "xai_realtime":
        return build_realtime(plan, key)
    raise UnsupportedConfig(f"LLM provider '{provider}' is not supported")


def realtime_tools(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    return [{"type": "function", "name": t.name, "description": t.description, "parameters": t.parameters}
            for t in tools]


def build_realtime(plan: CallPlan, key: str):
    from pipecat.services.xai.realtime import events

    s = get_settings()
    base = _ws(s.xai_url.rstrip("/") + "/v1/realtime") if s.xai_url else "wss://api.x.ai/v1/realtime"
    props = events.SessionProperties(
        instructions=plan.system_prompt, voice=(plan.llm.get("voice") or "eve").lower(),
        turn_detection=events.TurnDetection(type="server_vad", silence_duration_ms=500),
        audio=events.AudioConfiguration(
            input=events.AudioInput(format=events.PCMUAudioFormat()),
            output=events.AudioOutput(format=events.PCMUAudioFormat())),
        tools=realtime_tools(plan.tools) or None)
    cls = _mulaw_grok_class()
    settings = cls.Settings(session_properties=props)
    if plan.llm.get("model"):
        # Pipecat appends "?model=..." to base_url itself: a model put in the URL made a second "?".
        settings.model = plan.llm["model"]
    service = cls(api_key=key, base_url=base, settings=settings)
    service._first_message = plan.first_message
    return service


SAY_PREFIX = "Say exactly the following text, word for word, and nothing else:"


def say_instructions(text: str) -> str:
    """Per-response instructions that make the realtime model speak ``text`` verbatim."""
    return f'{SAY_PREFIX} "{text}"'


def _mulaw_grok_class():
    import asyncio
    import base64
    import time
    from types import SimpleNamespace

    from pipecat.services.xai.realtime import events, llm
    from pipecat.services.xai.realtime.llm import GrokRealtimeLLMService

    _without_deflate(llm, "websocket_connect")

    class MulawGrokRealtimeLLMService(GrokRealtimeLLMService):
        """G.711 mu-law both ways: Twilio's bytes go to xAI as they came, xAI's bytes go back as they came.

        Pipecat's service forwards the pipeline's linear16 unchanged even when the session says
        ``audio/pcmu``; our pipeline is 8 kHz linear16 decoded from mu-law, so re-encoding restores the
        exact wire bytes (the mu-law <-> linear16 table round-trips).
        """

        _ring_socket = None  # media.warm.HeldSocket: the socket opened at ring time (prepare)

        async def _connect(self):
            from media.warm import adopt_realtime

            websocket = await adopt_realtime(self) if self._websocket is None else None
            if websocket is None:
                await super()._connect()
                return
            # Opened by prepare with this service's URL and key; conversation.created, read while the
            # phone rang, is replayed first, so the session.update goes out as on a fresh connect.
            self._websocket = websocket
            self._receive_task = self.create_task(self._receive_task_handler())

        # --- a greeting already spoken (generated at ring time, played from memory at answer) ---
        _first_message: str | None = None
        _setup_when_ready = False

        def _greeting_spoken(self, context: Any) -> bool:
            """Does the call's context end with the first message, recorded as already said?"""
            messages = context.get_messages()
            last = messages[-1] if messages else None
            return bool(self._first_message) and isinstance(last, dict) and last.get("role") == "assistant" \
                and last.get("content") == self._first_message

        async def _handle_context(self, context, direction):
            if self._context is None and self._greeting_spoken(context):
                # The ring-time session is gone (dropped, or another key): this fresh one gets the
                # conversation, greeting included, and no response; the caller heard the greeting.
                self._context = context
                await self._process_completed_function_calls(send_new_results=False)
                if self._api_session_ready:
                    await self._setup_conversation()
                else:
                    self._setup_when_ready = True
                return
            # A session greeted at ring time holds a context of its own until this one replaces it;
            # a downstream context frame asks for no response (Pipecat's rule).
            await super()._handle_context(context, direction)

        async def _setup_conversation(self):
            if not self._llm_needs_conversation_setup:
                return
            params = await self.get_llm_adapter().get_llm_invocation_params(self._context)
            for item in params["messages"]:
                evt = events.ConversationItemCreateEvent(item=item)
                self._messages_added_manually[evt.item.id] = True
                await self.send_client_event(evt)
            await self._send_session_update()
            self._llm_needs_conversation_setup = False

        async def _handle_evt_session_updated(self, evt):
            await super()._handle_evt_session_updated(evt)
            if self._setup_when_ready:
                self._setup_when_ready = False
                await self._setup_conversation()

        async def _send_user_audio(self, frame):
            if not self._api_session_ready:
                return
            payload = base64.b64encode(audioop.lin2ulaw(frame.audio, 2)).decode()
            await self.send_client_event(events.InputAudioBufferAppendEvent(audio=payload))

        # The output transport cuts audio into 40 ms chunks and, when one response's TTSStoppedFrame is
        # played, discards a partial chunk still buffered: the start of the next response when it
        # arrived during playout (a fixed line right after a reply, a reply right after a filler).
        # Passing whole chunks only (the tail padded with silence at the end of the audio) leaves it
        # nothing to discard.
        _ALIGN = SAMPLE_RATE * 2 * 40 // 1000  # bytes of 40 ms linear16 (transport default chunk)
        _held = b""

        async def _handle_evt_audio_delta(self, evt):
            pcm = self._held + audioop.ulaw2lin(base64.b64decode(evt.delta), 2)
            cut = len(pcm) - len(pcm) % self._ALIGN
            self._held = pcm[cut:]
            if not cut:
                return
            evt.delta = base64.b64encode(pcm[:cut]).decode()
            await super()._handle_evt_audio_delta(evt)

        async def _handle_evt_audio_done(self, evt):
            if self._held:
                tail = self._held + bytes(self._ALIGN - len(self._held))
                self._held = b""
                await super()._handle_evt_audio_delta(SimpleNamespace(
                    item_id=evt.item_id, content_index=getattr(evt, "content_index", 0),
                    delta=base64.b64encode(tail).decode()))
            await super()._handle_evt_audio_done(evt)

        async def _handle_interruption(self):
            self._held = b""
            await super()._handle_interruption()

        # --- exact text (say, goodbyes, silence prompts, voicemail): realtime mode has no TTS stage ---
        _say_append = True
        _say_requested = False  # a say response.create is out and its response.created has not come

        async def say_exact(self, text: str, context: Any, *, append: bool = True,
                            uninterruptible: bool = False) -> None:
            """Have the model speak ``text`` verbatim: one ``response.create`` whose instructions say so.

            Waits (bounded) for the session and for a running response to finish, since the API refuses
            a second one. ``uninterruptible`` (closing lines: end, transfer) stops sending caller audio for
            the rest of the call, so server VAD can neither cancel the line nor cut it while Twilio plays it.
            """
            from pipecat.frames.frames import LLMFullResponseStartFrame

            deadline = time.monotonic() + 8.0
            while (not self._api_session_ready or self._response_active) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            if self._context is None:
                self._context = context
            # Nothing was said yet (e.g. voicemail decided before the greeting): set up first.
            await self._setup_conversation()
            if uninterruptible:
                self.set_audio_input_paused(True)
            self._say_append = append
            self._say_requested = True
            self._response_active = True
            await self.push_frame(LLMFullResponseStartFrame())
            await self.send_client_event(events.ResponseCreateEvent(response=events.ResponseProperties(
                modalities=["text", "audio"], instructions=say_instructions(text))))

        async def _push_output_transcript_text_frames(self, text: str):
            if self._say_append:
                await super()._push_output_transcript_text_frames(text)
                return
            from pipecat.frames.frames import TextType, TTSTextFrame

            # Spoken but kept out of the context (fillers, the voicemail message recorded separately).
            frame = TTSTextFrame(text, text_type=TextType.SENTENCE)
            frame.includes_inter_frame_spaces = True
            frame.append_to_context = False
            await self.push_frame(frame)

        async def _handle_evt_response_created(self, evt):
            if not self._say_requested:
                await super()._handle_evt_response_created(evt)
                return
            # Pipecat assumes a response takes in every tool result delivered before it. A say response
            # is told to speak one line and nothing else, so a result that landed between its
            # response.create and now is still unanswered: keep it owed for when the line is done.
            self._say_requested = False
            awaiting = self._results_awaiting_response
            await super()._handle_evt_response_created(evt)
            self._results_awaiting_response = awaiting

        async def _handle_evt_response_done(self, evt):
            self._say_append = True
            self._say_requested = False  # a say cancelled before it was created
            self._held = b""  # a cancelled response has no audio.done
            await super()._handle_evt_response_done(evt)

    return MulawGrokRealtimeLLMService


def _ulaw_elevenlabs_class():
    from pipecat.frames.frames import TTSAudioRawFrame
    from pipecat.services.elevenlabs.tts import ElevenLabsTTSService

    class UlawElevenLabsTTSService(ElevenLabsTTSService):
        """Asks ElevenLabs for ``ulaw_8000`` (what Twilio plays) instead of PCM.

        The pipeline is 8 kHz linear16; mu-law -> linear16 -> mu-law is exact, so the bytes Twilio
        receives are the bytes ElevenLabs produced, with no resampling anywhere.
        """

        @property
        def _output_format(self) -> str:  # type: ignore[override]
            return "ulaw_8000"

        @_output_format.setter
        def _output_format(self, value: str) -> None:
            pass

        async def append_to_audio_context(self, context_id, frame):  # type: ignore[override]
            if isinstance(frame, TTSAudioRawFrame) and not getattr(frame, "_decoded", False):
                frame.audio = audioop.ulaw2lin(frame.audio, 2)
                frame._decoded = True
            await super().append_to_audio_context(context_id, frame)

        _ring_socket = None  # media.warm.HeldSocket: the multi-stream socket opened at ring time

        async def _websocket_connect(self, uri: str, **kwargs: Any):
            # No permessage-deflate: base64 audio barely compresses, and inflating every message is
            # per-frame CPU in the process that carries all the calls (ring-time sockets come here too).
            kwargs.setdefault("compression", None)
            return await super()._websocket_connect(uri, **kwargs)

        async def _connect_websocket(self):
            from media.warm import adopt_socket

            websocket = adopt_socket(self) if self._websocket is None else None
            if websocket is None:
                await super()._connect_websocket()
                return
            self._websocket = websocket  # opened by prepare with this service's URL and key
            await self._on_websocket_connected()
            await self._call_event_handler("on_connected")

    return UlawElevenLabsTTSService


def build_tts(plan: CallPlan, key: str):
    cfg = plan.tts or {}
    provider = cfg.get("provider")
    s = get_settings()
    if provider == "elevenlabs":
        cls = _ulaw_elevenlabs_class()
        settings = cls.Settings(voice=cfg.get("voice_id"), model=cfg.get("model") or "eleven_flash_v2_5")
        for name in ("stability", "similarity_boost", "use_speaker_boost", "speed", "style"):
            if cfg.get(name) is not None:
                setattr(settings, name, cfg[name])
        url = _ws(s.elevenlabs_url.rstrip("/")) if s.elevenlabs_url else "wss://api.elevenlabs.io"
        return cls(api_key=key, url=url, sample_rate=SAMPLE_RATE, settings=settings)
    if provider == "inworld":
        from pipecat.services.inworld.tts import InworldTTSService

        settings = InworldTTSService.Settings(voice=cfg.get("voice_id"), model=cfg.get("model") or "inworld-tts-1")
        if cfg.get("language"):
            settings.language = _language(cfg["language"])
        if cfg.get("speed") is not None:
            settings.speaking_rate = cfg["speed"]
        kwargs: dict[str, Any] = {}
        if s.inworld_url:
            kwargs["url"] = _ws(s.inworld_url.rstrip("/")) + "/tts/v1/voice:streamBidirectional"
        return InworldTTSService(api_key=key, sample_rate=SAMPLE_RATE, settings=settings, **kwargs)
    raise UnsupportedConfig(f"TTS provider '{provider}' is not supported")


_KEY_PROVIDER = {"xai_realtime": "xai"}


def build_services(plan: CallPlan, keys: dict[str, tuple[str, bool]] | None = None,
                   warm: Any = None) -> Services:
    """The call's STT/LLM/TTS (or realtime) services; ``warm`` holds what ring-time prepare opened."""
    byok: dict[str, bool] = {}

    def key_for(kind: str, provider: str) -> str:
        if keys is not None and kind in keys:
            key, is_byok = keys[kind]
        else:
            key, is_byok = provider_key(plan.org_id, _KEY_PROVIDER.get(provider, provider))
        byok[kind] = is_byok
        return key

    def service(kind: str, provider: str, build) -> Any:
        key = key_for(kind, provider)
        prepared = warm.take(kind, key) if warm is not None else None
        return prepared if prepared is not None else build(plan, key)

    llm = service("llm", plan.llm["provider"], build_llm)
    if plan.realtime:
        return Services(stt=None, llm=llm, tts=None, byok=byok)
    stt = service("stt", plan.stt["provider"], build_stt)
    tts = service("tts", plan.tts["provider"], build_tts)
    if warm is not None:
        warm.discard_rest()
    return Services(stt=stt, llm=llm, tts=tts, byok=byok)
