"""Tool template and analysis template use cases (copied into assistants, never linked)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from chalicelib import errors
from chalicelib.models.common import is_uuid
from chalicelib.models.templates import (
    AnalysisTemplateCreate,
    AnalysisTemplateUpdate,
    ToolTemplateCreate,
    ToolTemplateUpdate,
    validate_tool_config,
)
from chalicelib.storage.documents import Document, DocumentRepository
from chalicelib.storage.tables import AnalysisTemplateModel, ToolTemplateModel
from chalicelib.timeutil import new_id, now_iso


@lru_cache(maxsize=1)
def tool_repo() -> DocumentRepository[ToolTemplateModel]:
    return DocumentRepository(ToolTemplateModel)


@lru_cache(maxsize=1)
def analysis_repo() -> DocumentRepository[AnalysisTemplateModel]:
    return DocumentRepository(AnalysisTemplateModel)


def _public(doc: Document) -> dict[str, Any]:
    return {"id": doc.id, "org_id": doc.org_id, **doc.data, "created_at": doc.created_at,
            "updated_at": doc.updated_at}


def _get(repo: DocumentRepository[Any], org_id: str, doc_id: str, label: str) -> Document:
    doc = repo.get(org_id, doc_id) if is_uuid(doc_id) else None
    if doc is None:
        raise errors.NotFound(f"{label} {doc_id} not found.")
    return doc


def _delete(repo: DocumentRepository[Any], org_id: str, doc_id: str, label: str) -> None:
    if not is_uuid(doc_id) or not repo.delete(org_id, doc_id):
        raise errors.NotFound(f"{label} {doc_id} not found.")


def _create(repo: DocumentRepository[Any], org_id: str, data: dict[str, Any]) -> dict[str, Any]:
    now = now_iso()
    doc = Document(org_id, new_id(), data, now, now)
    repo.create(doc)
    return _public(doc)


def _save(repo: DocumentRepository[Any], doc: Document, label: str) -> dict[str, Any]:
    doc.updated_at = now_iso()
    if not repo.replace(doc):
        raise errors.NotFound(f"{label} {doc.id} not found.")
    return _public(doc)


# ---- tool templates
TOOL = "Tool template"


def _checked_config(tool_type: str, config: dict[str, Any]) -> dict[str, Any]:
    try:
        return validate_tool_config(tool_type, config)
    except ValidationError as exc:
        raise errors.validation_error(exc, prefix="tool_config") from None


def create_tool_template(org_id: str, body: ToolTemplateCreate) -> dict[str, Any]:
    data: dict[str, Any] = {"description": None, **body.dump(exclude_unset=True)}
    data["tool_config"] = _checked_config(data["tool_type"], data["tool_config"])
    return _create(tool_repo(), org_id, data)


def list_tool_templates(org_id: str) -> list[dict[str, Any]]:
    return [_public(d) for d in tool_repo().list(org_id)]


def page_tool_templates(org_id: str, limit: int, offset: int = 0,
                        cursor: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    page = tool_repo().page(org_id, limit, offset, cursor)
    return [_public(d) for d in page.items], page.next_cursor


def get_tool_template(org_id: str, template_id: str) -> dict[str, Any]:
    return _public(_get(tool_repo(), org_id, template_id, TOOL))


def update_tool_template(org_id: str, template_id: str, body: ToolTemplateUpdate) -> dict[str, Any]:
    doc = _get(tool_repo(), org_id, template_id, TOOL)
    changes = body.dump(exclude_unset=True)
    merged = {**doc.data, **changes}
    if "tool_type" in changes or "tool_config" in changes:
        merged["tool_config"] = _checked_config(merged["tool_type"], merged["tool_config"])
    doc.data = merged
    return _save(tool_repo(), doc, TOOL)


def delete_tool_template(org_id: str, template_id: str) -> None:
    _delete(tool_repo(), org_id, template_id, TOOL)


# ---- analysis templates
ANALYSIS = "Analysis template"


def _analysis_data(body: Any) -> dict[str, Any]:
    data = body.dump(exclude_unset=True)
    if "schema_" in data:
        data["schema"] = data.pop("schema_")
    return data


def create_analysis_template(org_id: str, body: AnalysisTemplateCreate) -> dict[str, Any]:
    data = {"description": None, "system_prompt": None, "user_prompt": None, **_analysis_data(body)}
    return _create(analysis_repo(), org_id, data)


def list_analysis_templates(org_id: str) -> list[dict[str, Any]]:
    return [_public(d) for d in analysis_repo().list(org_id)]


def page_analysis_templates(org_id: str, limit: int, offset: int = 0,
                            cursor: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    page = analysis_repo().page(org_id, limit, offset, cursor)
    return [_public(d) for d in page.items], page.next_cursor


def get_analysis_template(org_id: str, template_id: str) -> dict[str, Any]:
    return _public(_get(analysis_repo(), org_id, template_id, ANALYSIS))


def get_analysis_template_data(org_id: str, template_id: str) -> dict[str, Any] | None:
    """For the analysis workflow: the template's data, or None when it is gone."""
    doc = analysis_repo().get(org_id, template_id) if is_uuid(template_id) else None
    return _public(doc) if doc else None


def update_analysis_template(org_id: str, template_id: str, body: AnalysisTemplateUpdate) -> dict[str, Any]:
    doc = _get(analysis_repo(), org_id, template_id, ANALYSIS)
    doc.data = {**doc.data, **_analysis_data(body)}
    return _save(analysis_repo(), doc, ANALYSIS)


def delete_analysis_template(org_id: str, template_id: str) -> None:
    _delete(analysis_repo(), org_id, template_id, ANALYSIS)
