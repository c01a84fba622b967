"""/byok: KMS envelope encryption, references only, rotation, delete with a body, provider_key, catalog."""

from __future__ import annotations

import base64
import json
import logging

import boto3
import pytest

from chalicelib.storage.tables import ByokKeyModel
from tests.resources.conftest import SECRET_OPENAI

PROVIDERS = ["deepgram", "openai", "elevenlabs", "xai", "resend", "gladia", "mistral"]


def _assert_never_leaked(secret, caplog, capsys, *responses):
    for r in responses:
        assert secret not in r.body.decode()
    out = capsys.readouterr()
    assert secret not in caplog.text + out.out + out.err


def test_get_lists_every_provider_as_null(api):
    r = api.get("/byok")
    assert r.status_code == 200
    assert r.data == {"byok_keys": {f"{p}_secret_id": None for p in PROVIDERS}}


def test_post_stores_only_kms_envelope_ciphertext(api, org, kms_key, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    r = api.post("/byok", {"provider": "openai", "api_key": SECRET_OPENAI})
    assert r.status_code == 200, r.body
    assert r.data["success"] is True
    secret_id = r.data["byok_keys"]["openai_secret_id"]
    assert secret_id and r.data["byok_keys"]["deepgram_secret_id"] is None

    row = ByokKeyModel.get(org[0].id, "openai")
    raw = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=ByokKeyModel.Meta.table_name, Key={"org_id": {"S": org[0].id}, "provider": {"S": "openai"}})["Item"]
    assert SECRET_OPENAI not in json.dumps(raw)
    version, mode, wrapped, nonce, ciphertext = row.ciphertext.split(".")
    assert (version, mode) == ("v1", "kms")  # data key from KMS GenerateDataKey, wrapped by the KMS key
    assert SECRET_OPENAI.encode() not in base64.b64decode(ciphertext)
    # The wrapped data key really is a KMS ciphertext blob of our key.
    kms = boto3.client("kms", region_name="us-east-1")
    out = kms.decrypt(CiphertextBlob=base64.b64decode(wrapped),
                      EncryptionContext={"org_id": org[0].id, "purpose": "byok:openai"})
    assert out["KeyId"].endswith(kms_key) and len(out["Plaintext"]) == 32

    get = api.get("/byok")
    assert get.data["byok_keys"]["openai_secret_id"] == secret_id
    _assert_never_leaked(SECRET_OPENAI, caplog, capsys, r, get)


def test_provider_key_prefers_byok_then_platform(api, org, kms_key, monkeypatch):
    from chalicelib.services import byok

    monkeypatch.setenv("OPENAI_API_KEY", "sk-platform")
    assert byok.provider_key(org[0].id, "openai") == ("sk-platform", False)
    api.post("/byok", {"provider": "openai", "api_key": SECRET_OPENAI})
    assert byok.provider_key(org[0].id, "openai") == (SECRET_OPENAI, True)
    api.delete("/byok", {"provider": "openai"})
    assert byok.provider_key(org[0].id, "openai") == ("sk-platform", False)
    monkeypatch.delenv("OPENAI_API_KEY")
    byok.clear_cache()
    assert byok.provider_key(org[0].id, "openai") == (None, False)
    assert byok.provider_key(org[0].id, "inworld") == (None, False)


def test_provider_key_is_cached_for_a_minute(api, org, monkeypatch):
    from chalicelib.services import byok

    api.post("/byok", {"provider": "deepgram", "api_key": "dg-secret-1"})
    assert byok.provider_key(org[0].id, "deepgram") == ("dg-secret-1", True)
    ByokKeyModel(org[0].id, "deepgram").delete()  # behind the service's back
    assert byok.provider_key(org[0].id, "deepgram") == ("dg-secret-1", True)  # cached for 60 s
    later = byok._clock() + 61
    monkeypatch.setattr(byok, "_clock", lambda: later)
    assert byok.provider_key(org[0].id, "deepgram") == (None, False)


def test_a_key_rotated_elsewhere_takes_effect_after_the_ttl(api, org, monkeypatch):
    """Another process stores a new key: this one serves the old key for at most 60 s, then the new one."""
    from chalicelib.crypto import encrypt_secret
    from chalicelib.services import byok
    from chalicelib.storage.byok import ByokKey

    now = [1000.0]
    monkeypatch.setattr(byok, "_clock", lambda: now[0])
    api.post("/byok", {"provider": "openai", "api_key": "sk-old-key"})
    assert byok.provider_key(org[0].id, "openai") == ("sk-old-key", True)
    old = byok.repo().get(org[0].id, "openai")
    assert old is not None
    context = {"org_id": org[0].id, "purpose": "byok:openai"}
    byok.repo().put(ByokKey(org[0].id, "openai", "rotated-id", encrypt_secret("sk-new", context),
                            old.created_at, old.created_at))  # the rotation, behind this process's back
    now[0] += byok.CACHE_SECONDS - 1
    assert byok.provider_key(org[0].id, "openai") == ("sk-old-key", True)
    now[0] += 2
    assert byok.provider_key(org[0].id, "openai") == ("sk-new", True)


def test_a_rotated_platform_secret_takes_effect_after_one_ttl_not_two(org, other_org, aws, monkeypatch):
    """The platform-keys secret is cached once: an org's lookup never re-serves an expired secret."""
    from chalicelib.services import byok

    now = [1000.0]
    monkeypatch.setattr(byok, "_clock", lambda: now[0])
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    arn = sm.create_secret(Name="voice/platform-keys", SecretString=json.dumps({"openai": "sk-v1"}))["ARN"]
    monkeypatch.setenv("PLATFORM_KEYS_SECRET_ARN", arn)
    assert byok.provider_key(org[0].id, "openai") == ("sk-v1", False)  # secret read at t=0
    now[0] += 50
    assert byok.provider_key(other_org[0].id, "openai") == ("sk-v1", False)  # another org at t=50
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"openai": "sk-v2"}))
    now[0] += 11  # t=61: the secret read at t=0 has expired, for every org
    assert byok.provider_key(other_org[0].id, "openai") == ("sk-v2", False)
    assert byok.provider_key(org[0].id, "openai") == ("sk-v2", False)


def test_platform_keys_from_secrets_manager(org, aws, monkeypatch):
    from chalicelib.services import byok

    sm = boto3.client("secretsmanager", region_name="us-east-1")
    arn = sm.create_secret(Name="voice/platform-keys",
                           SecretString=json.dumps({"openai": "sk-from-sm", "DEEPGRAM_API_KEY": "dg-from-sm"}))["ARN"]
    monkeypatch.setenv("PLATFORM_KEYS_SECRET_ARN", arn)
    monkeypatch.setenv("XAI_API_KEY", "xai-from-env")
    assert byok.provider_key(org[0].id, "openai") == ("sk-from-sm", False)
    assert byok.provider_key(org[0].id, "deepgram") == ("dg-from-sm", False)
    assert byok.provider_key(org[0].id, "xai") == ("xai-from-env", False)  # env fills what the secret lacks


def test_rotation_replaces_and_delete_with_body(api, org, kms_key, caplog, capsys):
    from chalicelib.services import byok

    first = api.post("/byok", {"provider": "elevenlabs", "api_key": "xi-old-secret"}).data["byok_keys"]
    second = api.post("/byok", {"provider": "elevenlabs", "apiKey": "xi-new-secret"}).data["byok_keys"]
    assert first["elevenlabs_secret_id"] != second["elevenlabs_secret_id"]
    assert ByokKeyModel.count(org[0].id) == 1
    assert byok.provider_key(org[0].id, "elevenlabs") == ("xi-new-secret", True)

    r = api.delete("/byok", {"provider": "elevenlabs"})
    assert r.status_code == 200 and r.data["success"] is True
    assert r.data["byok_keys"]["elevenlabs_secret_id"] is None
    assert ByokKeyModel.count(org[0].id) == 0
    # Idempotent: removing an absent key still succeeds.
    assert api.delete("/byok", {"provider": "elevenlabs"}).status_code == 200
    out = capsys.readouterr()
    assert "xi-old-secret" not in caplog.text + out.out and "xi-new-secret" not in caplog.text + out.out


def test_validation_errors(api):
    for body, param in [
        ({"provider": "anthropic", "api_key": "x"}, "provider"),
        ({"provider": "openai"}, "api_key"),
        ({"api_key": "x"}, "provider"),
        ({"provider": "openai", "api_key": ""}, "api_key"),
        ({"provider": "openai", "api_key": "x", "extra": 1}, "extra"),
    ]:
        r = api.post("/byok", body)
        assert r.status_code == 400, (body, r.body)
        assert r.data["param"] == param
    assert api.delete("/byok").status_code == 400  # DELETE needs its JSON body
    assert api.delete("/byok", {"provider": "nope"}).status_code == 400


@pytest.mark.parametrize("provider,key", [
    ("openai", "sk-proj-abc déf-0123456789"),      # non-ASCII: every later call failed with an 'ascii' error
    ("openai", "sk-proj-abc def-0123456789"),      # whitespace
    ("deepgram", "0123456789abcdef\n0123"),        # control character
    ("deepgram", "\u202e0123456789abcdef"),         # bidi override
    ("mistral", "short"),                           # too short
    ("gladia", "g" * 513),                          # too long
    ("openai", "0123456789abcdef0123"),             # OpenAI keys start with sk-
    ("xai", "sk-0123456789abcdef"),                 # xAI keys start with xai-
    ("resend", "sk-0123456789abcdef"),              # Resend keys start with re_
])
def test_unusable_provider_keys_are_refused_at_the_door(api, org, provider, key):
    r = api.post("/byok", {"provider": provider, "api_key": key})
    assert r.status_code == 400, r.body
    assert r.data["error"] == "invalid_parameter" and r.data["param"] == "api_key"
    assert key not in r.body.decode()
    assert api.get("/byok").data["byok_keys"][f"{provider}_secret_id"] is None


@pytest.mark.parametrize("provider,key", [
    ("openai", "sk-proj-" + "A1b2_-" * 20), ("xai", "xai-" + "a" * 80), ("resend", "re_123456789_abc"),
    ("deepgram", "0123456789abcdef0123456789abcdef01234567"), ("elevenlabs", "sk_" + "f" * 48),
    ("elevenlabs", "0123456789abcdef0123456789abcdef"), ("gladia", "6d3f1e2a-1b2c-4d5e-8f90-0123456789ab"),
    ("mistral", "AbCdEfGhIjKlMnOpQrStUvWxYz012345"),
])
def test_real_key_formats_are_accepted(api, provider, key):
    assert api.post("/byok", {"provider": provider, "api_key": key}).status_code == 200


def test_rejected_key_is_not_echoed_in_errors(api, caplog, capsys):
    r = api.post("/byok", {"provider": "openai", "api_key": SECRET_OPENAI, "typo": True})
    assert r.status_code == 400
    _assert_never_leaked(SECRET_OPENAI, caplog, capsys, r)


def test_tenant_isolation(api, other_api, org, other_org):
    from chalicelib.services import byok

    api.post("/byok", {"provider": "mistral", "api_key": "mistral-secret"})
    assert other_api.get("/byok").data["byok_keys"]["mistral_secret_id"] is None
    assert byok.provider_key(other_org[0].id, "mistral") == (None, False)
    other_api.delete("/byok", {"provider": "mistral"})
    assert api.get("/byok").data["byok_keys"]["mistral_secret_id"] is not None


def test_config_catalog(api):
    r = api.get("/byok/config")
    assert r.status_code == 200
    providers = {p["id"]: p for p in r.data["providers"]}
    assert set(providers) == {"deepgram", "elevenlabs", "gladia", "mistral", "openai", "xai", "inworld", "resend"}
    cats = {pid: p["category"] for pid, p in providers.items()}
    assert cats == {"deepgram": "stt", "elevenlabs": "tts", "gladia": "stt", "mistral": "llm", "openai": "llm",
                    "xai": "realtime", "inworld": "tts", "resend": "email"}
    for p in providers.values():
        assert p["docs_url"].startswith("https://") and p["name"]
        assert all(k == k.lower() for k in p), p  # snake_case only (no docsUrl)
        if p["models"]:
            assert sum(m["default"] for m in p["models"]) == 1
    assert providers["deepgram"]["models"][0] == {"id": "nova-3-general", "name": "Nova 3 General", "default": True}
    assert providers["openai"]["models"][:2] == [{"id": "gpt-4o-mini", "name": "GPT-4o Mini", "default": True},
                                                 {"id": "gpt-4o", "name": "GPT-4o", "default": False}]
    assert api.get("/byok/config", key="").status_code == 401
