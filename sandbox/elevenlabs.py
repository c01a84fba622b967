"""Fake ElevenLabs (api.elevenlabs.io): one import for the voices API and text to speech.

- Voices (``GET /v1/voices``, ``GET /v2/voices``): ``FakeElevenLabs`` in ``sandbox.elevenlabs_voices``.
- Text to speech (HTTP stream and WebSockets): ``FakeElevenLabsStream`` in ``sandbox.elevenlabs_tts``,
  an async server that also answers the voices routes, so one URL covers the control plane and media.

Both live in their own modules (the TTS fake builds on the voices fake); this module only gathers them.
"""

from __future__ import annotations

from sandbox.elevenlabs_tts import FakeElevenLabsStream, UnsupportedFormat
from sandbox.elevenlabs_voices import DEFAULT_VOICES, FakeElevenLabs, make_voice

__all__ = ["DEFAULT_VOICES", "FakeElevenLabs", "FakeElevenLabsStream", "UnsupportedFormat", "make_voice"]
