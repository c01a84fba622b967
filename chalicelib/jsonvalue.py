"""Typed views of JSON values (call rows, configs, webhook answers): the one place a JSON shape is trusted."""

from __future__ import annotations

from typing import Any, cast


def as_object(value: object) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (missing or malformed blocks read as empty)."""
    return cast("dict[str, Any]", value) if isinstance(value, dict) else {}


def object_or_none(value: object) -> dict[str, Any] | None:
    """``value`` when it is a JSON object, else None (an optional block that may be absent or malformed)."""
    return cast("dict[str, Any]", value) if isinstance(value, dict) else None


def as_list(value: object) -> list[Any]:
    """``value`` when it is a JSON array, else an empty one."""
    return cast("list[Any]", value) if isinstance(value, list) else []


def schema_errors(schema: dict[str, Any], value: Any, limit: int = 20) -> list[str]:
    """Where ``value`` breaks a JSON Schema: ``"<path>: <message>"`` lines, at most ``limit`` (none when valid)."""
    from jsonschema.validators import validator_for

    validator = validator_for(schema)(schema)
    found = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in found][:limit]
