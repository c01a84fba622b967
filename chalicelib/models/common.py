"""Base pydantic classes for the API boundary: snake_case out, snake_case or camelCase in."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_serializer, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

SHORT = 200  # names and short fields
LONG = 100_000  # prompts and message contents

DESCRIPTION = 10_000  # tool and template descriptions

# Characters no legitimate name, prompt or message carries: C0 and C1 controls (NUL included) and DEL,
# which break logs, headers and terminals, and the bidirectional embeddings, overrides and isolates
# (U+202A..U+202E, U+2066..U+2069), which make text display differently from what it is ("Trojan
# source"). Multi-line text (prompts, messages, descriptions) may use tab, newline and carriage return.
_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_FORBIDDEN_SINGLE = re.compile("[\x00-\x1f\x7f-\x9f" + _BIDI + "]")
_FORBIDDEN_MULTI = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f" + _BIDI + "]")


def _refuse(pattern: re.Pattern[str], value: str, allowed: str) -> str:
    bad = pattern.search(value)
    if bad is not None:
        kind = "bidirectional control" if bad.group() in _BIDI else "control"
        raise ValueError(f"must not contain {kind} characters (found U+{ord(bad.group()):04X}){allowed}")
    return value


def single_line_text(value: str) -> str:
    """Refuse control and bidi-override characters in a name or other one-line field."""
    return _refuse(_FORBIDDEN_SINGLE, value, "")


def multi_line_text(value: str) -> str:
    """Refuse control (except tab, newline, carriage return) and bidi-override characters."""
    return _refuse(_FORBIDDEN_MULTI, value, "; only tab and newline are allowed")


# Every free-text field of every input model uses one of these, so the checks above apply everywhere.
ShortStr = Annotated[str, StringConstraints(max_length=SHORT), AfterValidator(single_line_text)]
LongStr = Annotated[str, StringConstraints(max_length=LONG), AfterValidator(multi_line_text)]
NonEmptyShortStr = Annotated[str, StringConstraints(min_length=1, max_length=SHORT, strip_whitespace=True),
                             AfterValidator(single_line_text)]
DescriptionStr = Annotated[str, StringConstraints(max_length=DESCRIPTION), AfterValidator(multi_line_text)]

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _email(value: str) -> str:
    if not _EMAIL_RE.match(value):
        raise ValueError("must be an email address")
    return value


def _url(value: str) -> str:
    from chalicelib.netguard import check_url

    if not _URL_RE.match(value):
        raise ValueError("must be an http(s) URL")
    return check_url(value)  # UnsafeUrl is a ValueError: a 400 naming the field


def _uuid(value: str) -> str:
    if not _UUID_RE.match(value):
        raise ValueError("must be a UUID")
    return value.lower()


Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(_email)]
# Every URL the platform will call (webhook_url, tool url / server.url): public http(s) targets only.
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

    @model_validator(mode="before")
    @classmethod
    def _wire_names_only(cls, data: Any) -> Any:
        # ``schema_`` / ``async_`` are Python names, not wire names: a client sending them would see the
        # field silently ignored by a generated client's round trip, so they are refused like a typo.
        if isinstance(data, dict):
            for name, field in cls.model_fields.items():
                if name.endswith("_") and field.alias == name[:-1] and name in data:
                    raise PydanticCustomError("python_name", "Unknown field '{name}' (the field is '{alias}')",
                                              {"name": name, "alias": field.alias})
        return data

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

    model_config = ConfigDict(extra="allow", defer_build=True)  # built on first use (cold start)


FreeForm = dict[str, Any]
Metadata = Annotated[dict[str, Any], Field(description="Free-form object, echoed in webhooks")]


def is_uuid(value: str) -> bool:
    return bool(_UUID_RE.match(value or ""))
