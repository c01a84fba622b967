"""Fixtures for the resources feature: local fakes (ElevenLabs, Resend, Twilio), KMS, clean caches."""

from __future__ import annotations

import pytest

from chalicelib.settings import PLATFORM_KEY_ENV, reset_settings

# Strings that must never show up in a response body or a log line.
SECRET_OPENAI = "sk-proj-SECRET-openai-0123456789abcdef"
SECRET_ELEVEN = "xi-SECRET-eleven-0123456789"
SECRET_RESEND = "re_SECRET_resend_0123456789"
SECRET_TRUNK = "trunk-SECRET-password-42"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    """No platform keys or provider URLs leak in from the environment; process caches start empty."""
    for env in [*PLATFORM_KEY_ENV.values(), "PLATFORM_KEYS_SECRET_ARN", "ELEVENLABS_URL", "RESEND_URL",
                "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_URL", "KMS_KEY_ID"]:
        monkeypatch.delenv(env, raising=False)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://voice.example.test/api")
    reset_settings()
    from chalicelib.services import byok, voices

    byok.clear_cache()
    voices.clear_cache()
    yield
    byok.clear_cache()
    voices.clear_cache()
    reset_settings()


@pytest.fixture
def kms_key(aws, monkeypatch):
    """A KMS key in moto, configured as KMS_KEY_ID (envelope encryption through KMS)."""
    import boto3

    import chalicelib.crypto as crypto

    key_id = boto3.client("kms", region_name="us-east-1").create_key(Description="byok test")["KeyMetadata"]["KeyId"]
    monkeypatch.setenv("KMS_KEY_ID", key_id)
    reset_settings()
    crypto._kms.cache_clear()
    return key_id


@pytest.fixture
def eleven(monkeypatch):
    from sandbox.elevenlabs import FakeElevenLabs

    fake = FakeElevenLabs(api_keys={SECRET_ELEVEN, "xi-platform-key"}).start()
    monkeypatch.setenv("ELEVENLABS_URL", fake.base_url)
    reset_settings()
    yield fake
    fake.stop()


@pytest.fixture
def resend(monkeypatch):
    from sandbox.resend import FakeResend

    fake = FakeResend(api_keys={SECRET_RESEND, "re_other_account"}).start()
    monkeypatch.setenv("RESEND_URL", fake.base_url)
    reset_settings()
    yield fake
    fake.stop()


@pytest.fixture
def twilio(monkeypatch):
    from sandbox.twilio import FakeTwilio

    fake = FakeTwilio(auth_token="twilio-SECRET-token").start()
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", fake.account_sid)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", fake.auth_token)
    monkeypatch.setenv("TWILIO_API_URL", fake.base_url)
    reset_settings()
    yield fake
    fake.stop()


@pytest.fixture
def assistant(api):
    r = api.post("/assistants", {"name": "Receptionist", "business_name": "Acme Dental"})
    assert r.status_code == 201, r.body
    return r.data["assistant"]


@pytest.fixture
def trunk(api):
    r = api.post("/sip-trunks", {"name": "Office PBX", "host": "pbx.acme.example", "password": SECRET_TRUNK})
    assert r.status_code == 201, r.body
    return r.data["trunk"]
