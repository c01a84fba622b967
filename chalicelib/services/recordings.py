"""Call recordings in S3: upload (media service), presigned GET URLs on read, deletion (GDPR).

The call row stores only ``recording_key`` (never exposed); ``recording_url`` is presigned on every
read, so a leaked URL expires and a deleted object is never advertised as a fresh link.
Objects: ``recordings/{org_id}/{call_id}.wav`` in ``RECORDINGS_BUCKET`` (unset = recording off),
SSE-S3 encrypted, expired by the bucket's lifecycle rule.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from chalicelib import aws
from chalicelib.settings import get_settings

log = logging.getLogger("voice.recordings")

PREFIX = "recordings/"


def bucket() -> str | None:
    return get_settings().recordings_bucket


def enabled() -> bool:
    return bool(bucket())


def object_key(org_id: str, call_id: str) -> str:
    return f"{PREFIX}{org_id}/{call_id}.wav"


@lru_cache(maxsize=1)
def _s3() -> Any:
    # SigV4 so presigned URLs may last up to 7 days; AWS_ENDPOINT_URL (make dev) is honoured by boto3.
    return aws.client("s3", region=get_settings().region, signature_version="s3v4",
                      retries={"max_attempts": 3, "mode": "standard"})


def reset_client() -> None:
    """Forget the cached client (tests switch AWS mocks between cases)."""
    _s3.cache_clear()


def upload_wav(org_id: str, call_id: str, data: bytes) -> str:
    """Store a call's WAV; returns its key. Blocking: the media service runs it in a thread."""
    name = bucket()
    if not name:
        raise RuntimeError("RECORDINGS_BUCKET is not set")
    key = object_key(org_id, call_id)
    _s3().put_object(Bucket=name, Key=key, Body=data, ContentType="audio/wav", ServerSideEncryption="AES256",
                     Metadata={"org-id": org_id, "call-id": call_id})
    return key


def presigned_url(key: str | None, *, webhook: bool = False) -> str | None:
    """A time-limited GET URL for a stored recording (None without a key or a bucket)."""
    name = bucket()
    if not key or not name:
        return None
    settings = get_settings()
    expires = settings.recording_webhook_url_expiry_seconds if webhook else settings.recording_url_expiry_seconds
    try:
        return _s3().generate_presigned_url(
            "get_object", Params={"Bucket": name, "Key": key, "ResponseContentType": "audio/wav"},
            ExpiresIn=expires)
    except Exception:  # noqa: BLE001 - no credentials to sign with: the call is still readable
        log.exception("could not presign recording %s", key)
        return None


def url_for(data: dict[str, Any], *, webhook: bool = False) -> str | None:
    """``recording_url`` for a call's data (computed, never stored)."""
    return presigned_url(data.get("recording_key"), webhook=webhook)


def delete(key: str | None) -> bool:
    """Delete a recording object (idempotent). True when a delete was issued."""
    name = bucket()
    if not key or not name:
        return False
    _s3().delete_object(Bucket=name, Key=key)
    return True
