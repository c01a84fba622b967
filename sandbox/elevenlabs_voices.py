"""Fake ElevenLabs voices API (api.elevenlabs.io) that the real ``elevenlabs`` SDK talks to.

Point the SDK at it with ``ElevenLabs(api_key=..., base_url=fake.base_url)`` (ELEVENLABS_URL in
settings). Auth is the ``xi-api-key`` header, as on the real API. Serves ``GET /v1/voices`` and
``GET /v2/voices`` (paged with ``page_size`` / ``next_page_token``).

Text to speech (``FakeElevenLabsStream`` in ``sandbox.elevenlabs_tts``) answers the voices routes
through an instance of this fake, so it sits below that module; ``sandbox.elevenlabs`` offers both.
"""

from __future__ import annotations

import copy
from typing import Any

from sandbox.httpserver import FakeHTTPServer, FakeRequest, FakeResponse


def make_voice(voice_id: str, name: str, *, category: str = "premade", gender: str = "female",
               accent: str = "american", age: str = "young", use_case: str = "conversational",
               description: str | None = None, language: str = "en") -> dict[str, Any]:
    """A Voice object with the fields the real API returns (protocols.md 6.4)."""
    return {
        "voice_id": voice_id,
        "name": name,
        "samples": None,
        "category": category,
        "fine_tuning": {"is_allowed_to_fine_tune": True, "state": {}, "verification_failures": [],
                        "verification_attempts_count": 0, "manual_verification_requested": False,
                        "language": language},
        "labels": {"accent": accent, "description": (description or "calm").lower(), "age": age,
                   "gender": gender, "use_case": use_case},
        "description": description,
        "preview_url": f"https://storage.googleapis.com/eleven-public-prod/premade/voices/{voice_id}/preview.mp3",
        "available_for_tiers": [],
        "settings": None,
        "sharing": None,
        "high_quality_base_model_ids": ["eleven_flash_v2_5", "eleven_turbo_v2_5", "eleven_multilingual_v2"],
        "verified_languages": [{"language": language, "model_id": "eleven_multilingual_v2", "accent": accent,
                                "locale": None, "preview_url": None}],
        "safety_control": None,
        "voice_verification": {"requires_verification": False, "is_verified": False, "verification_failures": [],
                               "verification_attempts_count": 0, "language": None, "verification_attempts": None},
        "permission_on_resource": None,
        "is_owner": False,
        "is_legacy": False,
        "is_mixed": False,
        "favorited_at_unix": None,
        "created_at_unix": None,
    }


DEFAULT_VOICES = [
    make_voice("21m00Tcm4TlvDq8ikWAM", "Rachel", description="Matter-of-fact, personable woman."),
    make_voice("EXAVITQu4vr4xnSDxMaL", "Sarah", description="Young adult woman with a confident tone."),
    make_voice("JBFqnCBsd6RMkjVDRZzb", "George", gender="male", accent="british", age="middle_aged",
               description="Warm resonance that instantly captivates listeners."),
    make_voice("pNInz6obpgDQGcFmaJgB", "Adam", gender="male", description=None),
    make_voice("nl_NL-daan-1", "Daan", category="professional", gender="male", accent="dutch",
               description="Friendly Dutch narrator.", language="nl"),
]


class FakeElevenLabs(FakeHTTPServer):
    def __init__(self, api_keys: set[str] | None = None, voices: list[dict[str, Any]] | None = None, **kw: Any):
        super().__init__(**kw)
        self.api_keys = set(api_keys or {"xi-test-key"})
        self.voices: list[dict[str, Any]] = copy.deepcopy(voices if voices is not None else DEFAULT_VOICES)
        self.route("GET", r"/v1/voices", self._voices_v1)
        self.route("GET", r"/v2/voices", self._voices_v2)

    # ---------------------------------------------------------------- auth
    def unauthorized(self, req: FakeRequest) -> FakeResponse | None:
        """None when the ``xi-api-key`` header is a known key, else ElevenLabs' 401 body."""
        key = req.headers.get("xi-api-key")
        if key in self.api_keys:
            return None
        status = "missing_api_key" if not key else "invalid_api_key"
        message = "Missing API key" if not key else "Invalid API key"
        return FakeResponse(401, {"detail": {"status": status, "message": message}})

    def voice_requests(self) -> list[FakeRequest]:
        """Requests that listed voices (v1 or v2)."""
        with self.lock:
            return [r for r in self.requests if r.path in ("/v1/voices", "/v2/voices")]

    # ---------------------------------------------------------------- voices
    def _voices_v1(self, req: FakeRequest) -> FakeResponse:
        denied = self.unauthorized(req)
        if denied:
            return denied
        return FakeResponse(200, {"voices": copy.deepcopy(self.voices)})

    def _voices_v2(self, req: FakeRequest) -> FakeResponse:
        denied = self.unauthorized(req)
        if denied:
            return denied
        q = {k: v[0] for k, v in req.query.items()}
        try:
            size = int(q.get("page_size", "10"))
            start = int(q.get("next_page_token") or "0")
        except ValueError:
            return FakeResponse(422, {"detail": [{"loc": ["query", "page_size"], "msg": "invalid integer",
                                                  "type": "type_error.integer"}]})
        if not 1 <= size <= 100:
            return FakeResponse(422, {"detail": [{"loc": ["query", "page_size"],
                                                  "msg": "ensure this value is less than or equal to 100",
                                                  "type": "value_error.number.not_le"}]})
        matches = self.voices
        if q.get("search"):
            needle = q["search"].lower()
            matches = [v for v in matches if needle in (v["name"] or "").lower()]
        if q.get("category"):
            matches = [v for v in matches if v["category"] == q["category"]]
        page = matches[start:start + size]
        has_more = start + size < len(matches)
        return FakeResponse(200, {
            "voices": copy.deepcopy(page),
            "has_more": has_more,
            "total_count": len(matches),
            "next_page_token": str(start + size) if has_more else None,
        })

