"""Envelope encryption for secrets at rest (BYOK keys, trunk passwords, webhook secrets).

On AWS a fresh data key comes from KMS ``GenerateDataKey`` for every secret; the plaintext key
encrypts the secret with AES-256-GCM and only the KMS-encrypted data key is stored beside the
ciphertext. Locally (no ``KMS_KEY_ID``) the data key is wrapped with a key derived from
``LOCAL_SECRET_KEY`` instead, in the same envelope format.

Stored format: ``v1.<kms|local>.<b64 wrapped data key>.<b64 nonce>.<b64 ciphertext>``.
"""

from __future__ import annotations

import base64
import hashlib
import os
from functools import lru_cache

from chalicelib.settings import get_settings


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode())


@lru_cache(maxsize=1)
def _kms():
    import boto3

    return boto3.client("kms", region_name=get_settings().region)


def _local_kek() -> bytes:
    return hashlib.sha256(("voice-local-kek:" + get_settings().local_secret_key).encode()).digest()


def encrypt_secret(plaintext: str, context: dict[str, str]) -> str:
    """Encrypt a secret; ``context`` (e.g. org id and purpose) is bound as authenticated data."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aad = _aad(context)
    settings = get_settings()
    if settings.kms_key_id:
        out = _kms().generate_data_key(KeyId=settings.kms_key_id, KeySpec="AES_256", EncryptionContext=context)
        data_key, wrapped, mode = out["Plaintext"], out["CiphertextBlob"], "kms"
    else:
        data_key = AESGCM.generate_key(bit_length=256)
        wrap_nonce = os.urandom(12)
        wrapped = wrap_nonce + AESGCM(_local_kek()).encrypt(wrap_nonce, data_key, aad)
        mode = "local"
    nonce = os.urandom(12)
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext.encode(), aad)
    return ".".join(["v1", mode, _b64(wrapped), _b64(nonce), _b64(ciphertext)])


def decrypt_secret(blob: str, context: dict[str, str]) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    version, mode, wrapped_b64, nonce_b64, ct_b64 = blob.split(".")
    if version != "v1":
        raise ValueError("unknown secret envelope version")
    aad = _aad(context)
    wrapped = _unb64(wrapped_b64)
    if mode == "kms":
        data_key = _kms().decrypt(CiphertextBlob=wrapped, EncryptionContext=context)["Plaintext"]
    else:
        data_key = AESGCM(_local_kek()).decrypt(wrapped[:12], wrapped[12:], aad)
    return AESGCM(data_key).decrypt(_unb64(nonce_b64), _unb64(ct_b64), aad).decode()


def _aad(context: dict[str, str]) -> bytes:
    return "&".join(f"{k}={context[k]}" for k in sorted(context)).encode()
