"""Secrets of a call's resolved assistant: webhook and tool secrets, encrypted per call.

Secrets that came with a transient assistant, overrides or an assistant-request answer are stored
encrypted on the call row (``secrets_enc``); a saved assistant's secrets stay on the assistant and
are read through ``secret_assistant_id``. Calls, webhook delivery and the media gateway read them here.
"""

from __future__ import annotations

from chalicelib import errors
from chalicelib.crypto import decrypt_secret, encrypt_secret
from chalicelib.services.assistants import get_document, secret_for
from chalicelib.storage.calls import Call


def _context(org_id: str, call_id: str, name: str) -> dict[str, str]:
    return {"org_id": org_id, "purpose": f"call:{call_id}:{name}"}


def encrypt_call_secrets(org_id: str, call_id: str, secrets: dict[str, str]) -> dict[str, str]:
    """``{name: ciphertext}`` for the call row's ``secrets_enc`` (bound to the org, call and name)."""
    return {name: encrypt_secret(value, _context(org_id, call_id, name)) for name, value in secrets.items()}


def secret_for_call(call: Call, name: str) -> str | None:
    """A secret of the call's resolved assistant: ``webhook_secret`` or ``tool:<name>``.

    Secrets given inline for this call (transient mode, overrides, assistant-request answers) win;
    otherwise the saved assistant's encrypted secret is read.
    """
    blobs: dict[str, str] = call.data.get("secrets_enc") or {}
    blob = blobs.get(name)
    if blob:
        return decrypt_secret(blob, _context(call.org_id, call.id, name))
    assistant_id: str | None = call.data.get("secret_assistant_id")
    if not assistant_id:
        return None
    try:
        doc = get_document(call.org_id, assistant_id)
    except errors.NotFound:
        return None
    return secret_for(doc, name)
