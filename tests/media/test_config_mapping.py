"""Assistant config -> plan -> Pipecat services, for every provider the contract names."""

from __future__ import annotations

from typing import Any, TypeVar

import pytest
from pipecat.services.deepgram.stt import DeepgramSTTService
from pipecat.services.elevenlabs.tts import ElevenLabsTTSService
from pipecat.services.gladia.stt import GladiaSTTService
from pipecat.services.inworld.tts import InworldTTSService
from pipecat.services.mistral.stt import MistralSTTService
from pipecat.services.openai.base_llm import BaseOpenAILLMService
from pipecat.services.xai.realtime.llm import GrokRealtimeLLMService

from chalicelib.settings import reset_settings
from chalicelib.telephony.twiml import transfer_twiml
from media.plan import CallPlan, UnsupportedConfig, build_plan, fill_variables
from media.providers import keys as provider_keys
from media.providers.factory import build_services
from media.utterances import is_backchannel, looks_like_voicemail


@pytest.fixture(autouse=True)
def provider_env(monkeypatch):
    monkeypatch.setenv("DEEPGRAM_URL", "ws://127.0.0.1:9001")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9002/v1")
    monkeypatch.setenv("ELEVENLABS_URL", "http://127.0.0.1:9003")
    monkeypatch.setenv("XAI_URL", "http://127.0.0.1:9004")
    monkeypatch.setenv("MISTRAL_URL", "http://127.0.0.1:9005")
    monkeypatch.setenv("GLADIA_URL", "http://127.0.0.1:9006")
    monkeypatch.setenv("INWORLD_URL", "http://127.0.0.1:9007")
    reset_settings()
    keys = {"deepgram": ("dg-key", True), "openai": ("oa-key", False), "elevenlabs": ("el-key", True),
            "xai": ("xai-key", True), "mistral": ("mi-key", False), "gladia": ("gl-key", False),
            "inworld": ("iw-key", False)}
    monkeypatch.setattr(provider_keys, "provider_key", lambda org, provider: keys[provider])
    yield
    reset_settings()


def plan_for(config: dict, **data) -> CallPlan:
    return build_plan("org-1", "call-1", data.pop("direction", "outbound"), {"config": config, **data})


T = TypeVar("T")


def _as(cls: type[T], service: object) -> T:
    """The service as the Pipecat class whose private attributes the test inspects."""
    assert isinstance(service, cls), type(service)
    return service


CASCADE = {
    "first_message": "Hi {{name}}, this is Acme.",
    "stt_config": {"provider": "deepgram", "model": "nova-3", "language": "multi", "keyterms": ["Acme", "Flireo"]},
    "llm_config": {"provider": "openai", "model": "gpt-4o-mini", "temperature": 0.3,
                   "messages": [{"role": "system", "content": "You help {{name}} with orders."}],
                   "tools": [{"type": "function", "name": "lookup", "description": "Look up an order",
                              "parameters": {"type": "object", "properties": {"id": {"type": "string"}},
                                             "required": ["id"]}},
                             {"type": "endCall"},
                             {"type": "transferCall", "destinations": [
                                 {"type": "number", "number": "+31612345678", "description": "sales"}]}]},
    "tts_config": {"provider": "elevenlabs", "voice_id": "voice-1", "model": "eleven_flash_v2_5", "stability": 0.4,
                   "similarity_boost": 0.8, "use_speaker_boost": True, "speed": 1.1, "style": 0.2},
}


def test_plan_prompt_first_message_variables_context_metadata():
    plan = plan_for(CASCADE, first_message="Hello {{name}}!", context="Customer tier: gold.",
                    variables={"name": "Jan"}, metadata={"crm_id": "42"})
    assert plan.first_message == "Hello Jan!"  # call-level override wins, placeholders filled
    assert plan.system_prompt == "You help Jan with orders.\n\nCustomer tier: gold."
    assert plan.metadata == {"crm_id": "42"}
    assert [t.kind for t in plan.tools] == ["function", "endCall", "transferCall"]
    transfer = plan.tool("transferCall")
    assert transfer is not None
    assert transfer.parameters["properties"]["destination"]["enum"] == ["+31612345678"]
    assert plan_for(CASCADE, variables={"name": "Ann"}).first_message == "Hi Ann, this is Acme."
    assert fill_variables("{{a}} {{ b }} {{c}}", {"a": 1, "b": "x"}) == "1 x {{c}}"


def test_silence_handling_adds_end_call_tool():
    cfg = {**CASCADE, "autonomous_silence_handling": True,
           "llm_config": {"provider": "openai", "model": "gpt-4o-mini"}}
    plan = plan_for(cfg)
    assert [t.kind for t in plan.tools] == ["endCall"]


def test_deepgram_openai_elevenlabs_mapping():
    plan = plan_for(CASCADE)
    svc = build_services(plan)
    dg = svc.stt.__class__.__name__
    assert dg == "DeepgramSTTService"
    kwargs = _as(DeepgramSTTService, svc.stt)._build_connect_kwargs()
    assert kwargs["model"] == "nova-3" and kwargs["language"] == "multi"
    assert kwargs["keyterm"] == ["Acme", "Flireo"]
    assert kwargs["tag"] == "call-1"
    assert kwargs["interim_results"] == "true" and kwargs["vad_events"] == "true"
    # OpenAI: base URL from settings, model and temperature
    assert str(_as(BaseOpenAILLMService, svc.llm)._client.base_url).startswith("http://127.0.0.1:9002/v1")
    assert svc.llm._settings.model == "gpt-4o-mini" and svc.llm._settings.temperature == 0.3
    # ElevenLabs: mu-law 8 kHz straight through, voice settings, URL from settings
    tts = _as(ElevenLabsTTSService, svc.tts)
    url = tts._build_websocket_url()
    assert url.startswith("ws://127.0.0.1:9003/v1/text-to-speech/voice-1/multi-stream-input")
    assert "output_format=ulaw_8000" in url and "model_id=eleven_flash_v2_5" in url
    s = tts._settings
    assert (s.stability, s.similarity_boost, s.use_speaker_boost, s.speed, s.style) == (0.4, 0.8, True, 1.1, 0.2)
    assert svc.byok == {"llm": False, "stt": True, "tts": True}


def test_gladia_xai_inworld_mapping(recwarn):
    cfg = {"stt_config": {"provider": "gladia", "languages": ["en", "nl"], "code_switching": True, "region": "us-west",
                          "endpointing": 0.05, "custom_vocabulary": ["Acme"], "translation_enabled": True,
                          "translation_target_languages": ["fr"]},
           "llm_config": {"provider": "xai", "model": "grok-3-mini", "temperature": 0.5},
           "tts_config": {"provider": "inworld", "voice_id": "Ashley", "language": "en", "speed": 1.2}}
    svc = build_services(plan_for(cfg))
    assert svc.stt.__class__.__name__ == "GladiaSTTService"
    gladia = _as(GladiaSTTService, svc.stt)
    assert gladia._url == "http://127.0.0.1:9006/v2/live"
    assert gladia._api_key == "gl-key"
    st: Any = gladia._settings  # nested optional settings (NotGiven | None | ...) the assertions walk
    assert st.model == "solaria-1" and st.endpointing == 0.05 and st.custom_metadata["call_id"]
    assert st.language_config.languages == ["en", "nl"] and st.language_config.code_switching is True
    assert st.realtime_processing.custom_vocabulary_config.vocabulary == ["Acme"]
    assert st.realtime_processing.translation_config.target_languages == ["fr"]
    assert gladia._region == "us-west"
    assert not [w for w in recwarn if "Gladia" in str(w.message)]  # the settings API, not the deprecated one
    assert svc.llm.__class__.__name__ == "GrokLLMService"
    assert str(_as(BaseOpenAILLMService, svc.llm)._client.base_url).startswith("http://127.0.0.1:9004/v1")
    assert svc.llm._settings.model == "grok-3-mini" and svc.llm._settings.temperature == 0.5
    assert svc.tts.__class__.__name__ == "InworldTTSService"
    inworld = _as(InworldTTSService, svc.tts)
    assert inworld._url == "ws://127.0.0.1:9007/tts/v1/voice:streamBidirectional"
    assert inworld._settings.voice == "Ashley"


def test_elevenlabs_and_mistral_stt_mistral_llm_mapping():
    cfg = {"stt_config": {"provider": "elevenlabs", "model": "scribe_v2_realtime", "language": "en",
                          "include_timestamps": True},
           "llm_config": {"provider": "mistral", "model": "mistral-small-latest"},
           "tts_config": {"provider": "elevenlabs", "voice_id": "v"}}
    svc = build_services(plan_for(cfg))
    assert svc.stt.__class__.__name__ == "ElevenLabsRealtimeSTTService"
    assert svc.llm.__class__.__name__ == "MistralLLMService"
    assert str(_as(BaseOpenAILLMService, svc.llm)._client.base_url).startswith("http://127.0.0.1:9005/v1")
    cfg["stt_config"] = {"provider": "mistral", "model": "voxtral-mini-latest", "language": "fr"}
    svc = build_services(plan_for(cfg))
    assert svc.stt.__class__.__name__ == "MistralSTTService"
    assert _as(MistralSTTService, svc.stt)._settings.model == "voxtral-mini-latest"


def test_xai_realtime_mapping():
    cfg = {"first_message": "Hello!", "llm_config": {
        "provider": "xai_realtime", "voice": "rex", "messages": [{"role": "system", "content": "Be brief."}],
        "tools": [{"type": "endCall"}, {"type": "function", "name": "lookup", "description": "d"}]},
        "stt_config": {"provider": "deepgram"}, "tts_config": {"provider": "elevenlabs", "voice_id": "x"}}
    plan = plan_for(cfg)
    assert plan.realtime and plan.stt is None and plan.tts is None
    svc = build_services(plan)
    assert svc.stt is None and svc.tts is None
    rt = svc.llm
    assert rt.__class__.__name__ == "MulawGrokRealtimeLLMService"
    assert rt.__class__.__mro__[1].__name__ == "GrokRealtimeLLMService"
    props: Any = _as(GrokRealtimeLLMService, rt)._settings.session_properties  # nested optional settings
    assert props.voice == "rex"
    assert props.audio.input.format.type == "audio/pcmu" and props.audio.output.format.type == "audio/pcmu"
    assert [t.name for t in props.tools] == ["endCall", "lookup"]
    assert props.instructions == "Be brief."
    assert svc.byok == {"llm": True}


@pytest.mark.parametrize("cfg, message", [
    ({"llm_config": {"provider": "google"}}, "LLM provider 'google'"),
    ({"stt_config": {"provider": "whisper"}, "llm_config": {"provider": "openai"}}, "STT provider 'whisper'"),
    ({"tts_config": {"provider": "openai", "voice_id": "alloy"}, "llm_config": {"provider": "openai"}},
     "TTS provider 'openai'"),
])
def test_unsupported_combinations_are_rejected_with_a_reason(cfg, message):
    with pytest.raises(UnsupportedConfig, match=message):
        plan_for(cfg)


def test_backchannel_and_voicemail_classifiers():
    assert is_backchannel("Mhm.") and is_backchannel("yeah okay") and is_backchannel("Uh-huh")
    # However the STT spells them: hyphens, repeats, split words, punctuation.
    for spelling in ("Mm-hmm.", "mhm", "mmhmm", "mm hmm", "uh-huh", "Uh huh.", "uhhuh", "Yeahh.", "Okay, got it."):
        assert is_backchannel(spelling), spelling
    assert not is_backchannel("sounds good") and is_backchannel("Sounds good!", extra=("sounds good",))
    assert not is_backchannel("wait, stop") and not is_backchannel("") and not is_backchannel("yes yes yes yes")
    assert looks_like_voicemail("Hi, you've reached Jan. Please leave a message after the beep.")
    assert not looks_like_voicemail("Hello, this is Jan speaking.")


def test_speaking_plans_and_stt_endpointing_reach_the_plan_and_deepgram():
    default = plan_for(CASCADE).turn
    assert (default.smart_endpointing, default.wait_seconds, default.on_number_seconds) == (True, 0.0, 1.2)
    assert (default.num_words, default.voice_seconds, default.backoff_seconds) == (0, 0.1, 1.0)
    stt = _as(DeepgramSTTService, build_services(plan_for(CASCADE)).stt)
    assert stt._build_connect_kwargs()["endpointing"] == "300"
    cfg = {**CASCADE, "stt_config": {**CASCADE["stt_config"], "endpointing": 0.5},
           "start_speaking_plan": {"smart_endpointing_enabled": False, "wait_seconds": 0.4,
                                   "transcription_endpointing_plan": {"on_number_seconds": 0.7}},
           "stop_speaking_plan": {"num_words": 2, "acknowledgement_phrases": ["sounds good"]}}
    plan = plan_for(cfg)
    assert plan.turn.stt_endpointing_ms == 500 and not plan.turn.smart_endpointing
    assert (plan.turn.wait_seconds, plan.turn.on_number_seconds, plan.turn.on_punctuation_seconds) == (0.4, 0.7, 0.1)
    assert plan.turn.num_words == 2 and plan.turn.acknowledgement_phrases == ("sounds good",)
    assert _as(DeepgramSTTService, build_services(plan).stt)._build_connect_kwargs()["endpointing"] == "500"
    with pytest.raises(UnsupportedConfig, match="stop_speaking_plan"):
        plan_for({**CASCADE, "stop_speaking_plan": {"num_words": -1}})


def test_transfer_twiml_number_and_trunk():
    """The one Twilio adapter's transfer TwiML (twilio.twiml): number with caller id, trunk, SIP URI."""
    assert transfer_twiml("+31612345678", caller_id="+3185") == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Dial answerOnBridge="true" callerId="+3185" timeout="30">'
        "<Number>+31612345678</Number></Dial></Response>")
    trunk = {"host": "pbx.example.com", "port": 5061, "transport": "tls", "username": "u", "password": "p&w"}
    xml = transfer_twiml("+31612345678", trunk=trunk)
    assert ('<Sip password="p&amp;w" username="u">sip:+31612345678@pbx.example.com:5061;transport=tls</Sip>'
            in xml)
    assert "<Sip>sip:agent@pbx.example.com</Sip>" in transfer_twiml("sip:agent@pbx.example.com")


def test_transcript_endings_set_the_last_wait():
    from media.pipeline.endpoint import ending, words_wait
    from media.plan import TurnSettings

    settings = TurnSettings(on_punctuation_seconds=0.1, on_number_seconds=1.2, on_no_punctuation_seconds=1.5)
    assert ending("What are your opening hours?") == "punctuation"
    assert ending("My number is zero six, one two") == "number" and ending("it is 0612") == "number"
    assert ending("three four, five six seven eight.") == "punctuation"  # a full stop ends the number
    assert ending("I would like to book a table for") == "open" and ending("") == "open"
    assert [words_wait(t, settings) for t in ("Yes.", "zero six,", "well")] == [0.1, 1.2, 1.5]
