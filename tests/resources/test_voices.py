"""/voices: ElevenLabs voices through the real SDK against the fake, xAI voices, cache, warnings."""

from __future__ import annotations

import logging

from tests.resources.conftest import SECRET_ELEVEN

XAI = ["ara", "rex", "sal", "eve", "leo"]


def test_voices_with_byok_key(api, eleven, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    api.post("/byok", {"provider": "elevenlabs", "api_key": SECRET_ELEVEN})
    r = api.get("/voices")
    assert r.status_code == 200, r.body
    voices = r.data["voices"]
    assert "warnings" not in r.data
    rachel = voices[0]
    assert rachel == {
        "id": "21m00Tcm4TlvDq8ikWAM", "name": "Rachel", "provider": "elevenlabs", "language": "en",
        "description": {"en": "Matter-of-fact, personable woman."},
        "preview_url": "https://storage.googleapis.com/eleven-public-prod/premade/voices/21m00Tcm4TlvDq8ikWAM/"
                       "preview.mp3",
        "category": "premade", "gender": "female", "accent": "american",
        "labels": {"accent": "american", "description": "matter-of-fact, personable woman.", "age": "young",
                   "gender": "female", "use_case": "conversational"},
    }
    assert [v["id"] for v in voices if v["provider"] == "elevenlabs"] == [v["voice_id"] for v in eleven.voices]
    daan = next(v for v in voices if v["name"] == "Daan")
    assert daan["language"] == "nl"
    xai = [v for v in voices if v["provider"] == "xai"]
    assert [v["id"] for v in xai] == XAI and all(v["style"] for v in xai)
    # The SDK called the v2 endpoint with the org's key.
    req = eleven.voice_requests()[0]
    assert req.path == "/v2/voices" and req.headers["xi-api-key"] == SECRET_ELEVEN
    out = capsys.readouterr()
    assert SECRET_ELEVEN not in r.body.decode() + caplog.text + out.out + out.err


def test_voices_are_cached_per_org_for_ten_minutes(api, other_api, eleven, monkeypatch):
    from chalicelib.services import voices

    api.post("/byok", {"provider": "elevenlabs", "api_key": SECRET_ELEVEN})
    first = api.get("/voices").data
    assert len(eleven.voice_requests()) == 1
    assert api.get("/voices").data == first
    assert len(eleven.voice_requests()) == 1  # second call served from the cache
    # Another org has its own cache entry (platform key here).
    monkeypatch.setenv("ELEVENLABS_API_KEY", "xi-platform-key")
    other_api.get("/voices")
    assert len(eleven.voice_requests()) == 2
    assert eleven.voice_requests()[1].headers["xi-api-key"] == "xi-platform-key"
    # Past the 10 minutes the catalogue is fetched again.
    later = voices._clock() + 601
    monkeypatch.setattr(voices, "_clock", lambda: later)
    api.get("/voices")
    assert len(eleven.voice_requests()) == 3


def test_key_rotation_invalidates_the_cache(api, eleven):
    api.post("/byok", {"provider": "elevenlabs", "api_key": SECRET_ELEVEN})
    api.get("/voices")
    api.post("/byok", {"provider": "elevenlabs", "api_key": "xi-platform-key"})
    api.get("/voices")
    assert [r.headers["xi-api-key"] for r in eleven.voice_requests()] == [SECRET_ELEVEN, "xi-platform-key"]


def test_a_key_rotated_elsewhere_refreshes_the_list_once_the_key_cache_expires(api, org, eleven, monkeypatch):
    from chalicelib.crypto import encrypt_secret
    from chalicelib.services import byok
    from chalicelib.storage.byok import ByokKey

    now = [1000.0]
    monkeypatch.setattr(byok, "_clock", lambda: now[0])
    api.post("/byok", {"provider": "elevenlabs", "api_key": SECRET_ELEVEN})
    api.get("/voices")
    old = byok.repo().get(org[0].id, "elevenlabs")
    assert old is not None
    context = {"org_id": org[0].id, "purpose": "byok:elevenlabs"}
    byok.repo().put(ByokKey(org[0].id, "elevenlabs", "rotated-id", encrypt_secret("xi-rotated-key", context),
                            old.created_at, old.created_at))  # another process rotated the key
    api.get("/voices")
    assert len(eleven.voice_requests()) == 1  # same key as far as this process knows: cached list
    now[0] += byok.CACHE_SECONDS + 1
    api.get("/voices")
    assert [r.headers["xi-api-key"] for r in eleven.voice_requests()] == [SECRET_ELEVEN, "xi-rotated-key"]


def test_platform_key_pages_through_many_voices(api, eleven, monkeypatch):
    from sandbox.elevenlabs import make_voice

    eleven.voices = [make_voice(f"v{i:04d}", f"Voice {i}") for i in range(230)]
    monkeypatch.setenv("ELEVENLABS_API_KEY", "xi-platform-key")
    voices = api.get("/voices?limit=1000").data["voices"]
    assert len([v for v in voices if v["provider"] == "elevenlabs"]) == 230
    assert len(eleven.voice_requests()) == 3
    # GET /voices pages like every list: 100 by default, then next_cursor (from the cached list)
    seen, cursor = [], None
    while True:
        page = api.get("/voices" + (f"?cursor={cursor}" if cursor else "")).data
        assert len(page["voices"]) <= 100
        seen += [v["id"] for v in page["voices"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [v["id"] for v in voices] and len(eleven.voice_requests()) == 3
    assert [v["id"] for v in api.get("/voices?limit=2&offset=229").data["voices"]] == ["v0229", "ara"]


def test_no_elevenlabs_key_lists_xai_voices_with_warning(api, eleven):
    r = api.get("/voices")
    assert r.status_code == 200
    assert [v["id"] for v in r.data["voices"]] == XAI
    assert len(r.data["warnings"]) == 1 and "ElevenLabs API key" in r.data["warnings"][0]
    assert eleven.voice_requests() == []


def test_rejected_key_degrades_to_xai_with_warning_and_is_not_cached(api, eleven):
    api.post("/byok", {"provider": "elevenlabs", "api_key": "xi-revoked-key"})
    r = api.get("/voices")
    assert r.status_code == 200
    assert [v["id"] for v in r.data["voices"]] == XAI
    assert "HTTP 401" in r.data["warnings"][0] and "xi-revoked-key" not in r.body.decode()
    api.get("/voices")
    assert len(eleven.voice_requests()) == 2


def test_voices_need_auth(api):
    assert api.get("/voices", key="vk_wrong").status_code == 401
