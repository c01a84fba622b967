"""Tool templates and analysis templates."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, TypeAdapter, field_validator

from chalicelib.models.assistant import EndCallTool, FunctionTool, TransferCallTool
from chalicelib.models.common import ApiModel, DescriptionStr, FreeForm, LongStr, NonEmptyShortStr

_TOOL_TYPES = {"function": "function", "endCall": "endCall", "end_call": "endCall",
               "transferCall": "transferCall", "transfer_call": "transferCall"}


def _tool_type(value: Any) -> Any:
    return _TOOL_TYPES.get(value, value) if isinstance(value, str) else value


ToolType = Annotated[Literal["function", "endCall", "transferCall"], BeforeValidator(_tool_type)]
_CONFIG_MODELS = {"function": FunctionTool, "endCall": EndCallTool, "transferCall": TransferCallTool}


def validate_tool_config(tool_type: str, config: dict[str, Any]) -> dict[str, Any]:
    """Validate ``tool_config`` against its type; returns the normalized config (no ``type``)."""
    model = _CONFIG_MODELS[tool_type]
    payload = {k: v for k, v in config.items() if k != "type"}
    parsed = TypeAdapter(model).validate_python({**payload, "type": tool_type})
    out = parsed.model_dump(mode="json", exclude_none=True)
    out.pop("type", None)
    if tool_type == "function":
        out.pop("secret", None)  # templates are copied into assistants; secrets belong on the assistant
    return out


class ToolTemplateCreate(ApiModel):
    name: NonEmptyShortStr
    description: DescriptionStr | None = None
    tool_type: ToolType
    tool_config: FreeForm  # validated against tool_type by the service (errors name tool_config.<field>)


class ToolTemplateUpdate(ApiModel):
    name: NonEmptyShortStr | None = None
    description: DescriptionStr | None = None
    tool_type: ToolType | None = None
    tool_config: FreeForm | None = None

    @field_validator("name", "tool_type", "tool_config")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null")
        return value


class AnalysisTemplateCreate(ApiModel):
    name: NonEmptyShortStr
    description: DescriptionStr | None = None
    system_prompt: LongStr | None = None
    user_prompt: LongStr | None = None
    schema_: FreeForm = Field(alias="schema")

    @field_validator("schema_")
    @classmethod
    def _schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_json_schema(value)


class AnalysisTemplateUpdate(ApiModel):
    name: NonEmptyShortStr | None = None
    description: DescriptionStr | None = None
    system_prompt: LongStr | None = None
    user_prompt: LongStr | None = None
    schema_: FreeForm | None = Field(default=None, alias="schema")

    @field_validator("schema_")
    @classmethod
    def _schema(cls, value: dict[str, Any] | None) -> dict[str, Any]:
        if value is None:
            raise ValueError("cannot be null")
        return check_json_schema(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null")
        return value


def check_json_schema(value: dict[str, Any]) -> dict[str, Any]:
    """Reject a schema that is not a valid JSON Schema (draft 2020-12)."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(value)
    except SchemaError as exc:
        raise ValueError(f"is not a valid JSON Schema: {exc.message}") from None
    return value
