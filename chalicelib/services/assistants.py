"""Assistant use cases."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from chalicelib import errors
from chalicelib.crypto import decrypt_secret, encrypt_secret
from chalicelib.jsonvalue import as_list, as_object
from chalicelib.models.assistant import ASSISTANT_DEFAULTS, AssistantCreate, AssistantUpdate
from chalicelib.models.common import is_uuid
from chalicelib.storage.documents import Document, DocumentRepository
from chalicelib.storage.tables import AssistantModel
from chalicelib.timeutil import new_id, now_iso


@lru_cache(maxsize=1)
def repo() -> DocumentRepository[AssistantModel]:
    return DocumentRepository(AssistantModel, extra_attrs=("secrets_enc",))


def _secret_ctx(org_id: str, assistant_id: str, name: str) -> dict[str, str]:
    return {"org_id": org_id, "purpose": f"assistant:{assistant_id}:{name}"}


def _split_secrets(org_id: str, assistant_id: str, data: dict[str, Any],
                   secrets: dict[str, str]) -> dict[str, str]:
    """Move write-only secrets out of ``data`` into encrypted form (mutates both)."""
    out = dict(secrets)
    if "webhook_secret" in data:
        value = data.pop("webhook_secret")
        if value is None:
            out.pop("webhook_secret", None)
        else:
            out["webhook_secret"] = encrypt_secret(value, _secret_ctx(org_id, assistant_id, "webhook_secret"))
    for tool in as_list(as_object(data.get("llm_config")).get("tools")):
        tool = as_object(tool)
        if tool.get("type") == "function":
            secret = tool.pop("secret", None)
            key = f"tool:{tool['name']}"
            if secret:
                out[key] = encrypt_secret(str(secret), _secret_ctx(org_id, assistant_id, key))
    return out


def public(doc: Document) -> dict[str, Any]:
    """The Assistant object as returned by the API (secrets replaced by *_set flags)."""
    secrets = as_object(doc.extra.get("secrets_enc"))
    out: dict[str, Any] = {"id": doc.id, "org_id": doc.org_id, "name": doc.data.get("name"), **ASSISTANT_DEFAULTS,
                           **doc.data}
    out["webhook_secret_set"] = "webhook_secret" in secrets
    for tool in as_list(as_object(out.get("llm_config")).get("tools")):
        tool = as_object(tool)
        if tool.get("type") == "function":
            tool["secret_set"] = f"tool:{tool['name']}" in secrets
    out["created_at"] = doc.created_at
    out["updated_at"] = doc.updated_at
    return out


def secret_for(doc: Document, name: str) -> str | None:
    """Decrypt one stored secret of an assistant (``webhook_secret`` or ``tool:<name>``)."""
    blob = as_object(doc.extra.get("secrets_enc")).get(name)
    if not blob:
        return None
    return decrypt_secret(str(blob), _secret_ctx(doc.org_id, doc.id, name))


def create_assistant(org_id: str, body: AssistantCreate) -> dict[str, Any]:
    assistant_id = new_id()
    data = {**ASSISTANT_DEFAULTS, **body.dump(exclude_unset=True)}
    secrets = _split_secrets(org_id, assistant_id, data, {})
    now = now_iso()
    doc = Document(org_id, assistant_id, data, now, now, {"secrets_enc": secrets or None})
    repo().create(doc)
    return public(doc)


def get_document(org_id: str, assistant_id: str) -> Document:
    doc = repo().get(org_id, assistant_id) if is_uuid(assistant_id) else None
    if doc is None:
        raise errors.NotFound(f"Assistant {assistant_id} not found.")
    return doc


def get_assistant(org_id: str, assistant_id: str) -> dict[str, Any]:
    return public(get_document(org_id, assistant_id))


def list_assistants(org_id: str) -> list[dict[str, Any]]:
    return [public(d) for d in repo().list(org_id)]


def page_assistants(org_id: str, limit: int, offset: int = 0,
                    cursor: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One page of assistants, oldest first, and the key to continue from (None at the end)."""
    page = repo().page(org_id, limit, offset, cursor)
    return [public(d) for d in page.items], page.next_cursor


def update_assistant(org_id: str, assistant_id: str, body: AssistantUpdate) -> dict[str, Any]:
    doc = get_document(org_id, assistant_id)
    changes = body.dump(exclude_unset=True)
    secrets = dict(doc.extra.get("secrets_enc") or {})
    if "llm_config" in changes:
        # A replaced tool list drops the secrets of tools that are gone.
        secrets = {k: v for k, v in secrets.items() if not k.startswith("tool:")}
    secrets = _split_secrets(org_id, assistant_id, changes, secrets)
    doc.data = {**doc.data, **changes}
    doc.updated_at = now_iso()
    doc.extra = {"secrets_enc": secrets or None}
    if not repo().replace(doc):
        raise errors.NotFound(f"Assistant {assistant_id} not found.")
    return public(doc)


def delete_assistant(org_id: str, assistant_id: str) -> None:
    if not is_uuid(assistant_id) or not repo().delete(org_id, assistant_id):
        raise errors.NotFound(f"Assistant {assistant_id} not found.")
