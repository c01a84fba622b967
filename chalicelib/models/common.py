"""Base pydantic classes for the API boundary: snake_case out, snake_case or camelCase in."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_serializer
from pydantic.alias_generators import to_camel

SHORT = 200  # names and short fields
LONG = 100_000  # prompts and message contents

ShortStr = Annotated[str, StringConstraints(max_length=SHORT)]
LongStr = Annotated[str, StringConstraints(max_length=LONG)]
NonEmptyShortStr = Annotated[str, StringConstraints(min_length=1, max_length=SHORT, strip_whitespace=True)]

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _email(value: str) -> str:
    if not _EMAIL_RE.match(value):
        raise ValueError("must be an email address")
    return value


def _url(value: str) -> str:
    if not _URL_RE.match(value):
        raise ValueError("must be an http(s) URL")
    return value


def _uuid(value: str) -> str:
    if not _UUID_RE.match(value):
        raise ValueError("must be a UUID")
    return value.lower()


Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(_email)]
Url = Annotated[str, StringConstraints(max_length=2048), AfterValidator(_url)]
UUIDStr = Annotated[str, AfterValidator(_uuid)]


class ApiModel(BaseModel):
    """Strict input model: unknown fields are rejected; camelCase spellings accepted."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=False,
        str_strip_whitespace=False,
        # Build validators on first use, not at import: a cold Lambda validates one or two models
        # per request, not the ~100 the app defines (measured by bench/cold_import.py).
        defer_build=True,
    )

    @model_serializer(mode="wrap")
    def _keyword_names(self, handler: Any) -> Any:
        # Fields named after Python keywords or BaseModel attributes (``schema_``, ``async_``) are
        # stored and returned under their wire name (``schema``, ``async``), never with the underscore.
        data = handler(self)
        if isinstance(data, dict):
            for name, field in type(self).model_fields.items():
                if name.endswith("_") and field.alias == name[:-1] and name in data:
                    data[field.alias] = data.pop(name)
        return data

    def dump(self, **kwargs: Any) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=False, **kwargs)


class OutModel(BaseModel):
    """Response model (documentation and shaping only; extra keys are kept)."""

    model_config = ConfigDict(extra="allow")


FreeForm = dict[str, Any]
Metadata = Annotated[dict[str, Any], Field(description="Free-form object, echoed in webhooks")]


def is_uuid(value: str) -> bool:
    return bool(_UUID_RE.match(value or ""))
