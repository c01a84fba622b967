"""API models for numbers, SIP trunks, BYOK keys and domains."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from chalicelib.models.common import ApiModel, NonEmptyShortStr, ShortStr, UUIDStr
from chalicelib.models.phone import normalize_e164

E164 = Annotated[str, AfterValidator(normalize_e164)]

BYOK_PROVIDERS = ("deepgram", "openai", "elevenlabs", "xai", "resend", "gladia", "mistral")
ByokProvider = Literal["deepgram", "openai", "elevenlabs", "xai", "resend", "gladia", "mistral"]

_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9\-._]*[A-Za-z0-9])?$|^\[?[0-9A-Fa-f:]+\]?$")
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _host(value: str) -> str:
    if not _HOST_RE.match(value):
        raise ValueError("must be a hostname or an IP address (no scheme, port or path)")
    return value


def _domain(value: str) -> str:
    text = value.strip().lower().rstrip(".")
    if not _DOMAIN_RE.match(text):
        raise ValueError("must be a domain name such as notifications.example.com")
    return text


Host = Annotated[str, StringConstraints(min_length=1, max_length=253, strip_whitespace=True), AfterValidator(_host)]
DomainName = Annotated[str, StringConstraints(max_length=253), AfterValidator(_domain)]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


def _aliases_in_schema(**aliases: str) -> ConfigDict:
    """Document accepted aliases (folded before validation, so pydantic does not list them)."""

    def extra(schema: dict[str, Any]) -> None:
        props = schema.setdefault("properties", {})
        for alias, field in aliases.items():
            props[alias] = {**props.get(field, {}), "description": f"Alias of `{field}` (send one of them)"}

    return ConfigDict(json_schema_extra=extra)


def _fold(data: Any, alias: tuple[str, ...], target: tuple[str, ...]) -> Any:
    """Move an accepted alias (e.g. ``number``) onto its field (``phone_number``) before validation,
    so errors name the real field; both spellings with different values is a 400."""
    if not isinstance(data, dict):
        return data
    found = [k for k in alias if k in data]
    if not found:
        return data
    out = dict(data)
    value = out.pop(found[0])
    for k in found[1:]:
        out.pop(k)
    present = [k for k in target if k in out]
    if present and out[present[0]] != value:
        raise ValueError(f"'{target[0]}' and '{alias[0]}' disagree; send one of them")
    if not present:
        out[target[0]] = value
    return out


class NumberCreate(ApiModel):
    """``number`` is accepted as an alias of ``phone_number``, ``assistant_id`` of ``agent_id``."""

    model_config = _aliases_in_schema(number="phone_number", assistant_id="agent_id")

    phone_number: E164
    name: ShortStr | None = None
    agent_id: UUIDStr | None = None
    transfer_trunk_id: UUIDStr | None = None
    is_active: bool = True

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        data = _fold(data, ("number",), ("phone_number", "phoneNumber"))
        return _fold(data, ("assistant_id", "assistantId"), ("agent_id", "agentId"))


class NumberUpdate(ApiModel):
    """``null`` unassigns the agent or the trunk; ``assistant_id`` is an alias of ``agent_id``."""

    model_config = _aliases_in_schema(assistant_id="agent_id")

    name: ShortStr | None = None
    agent_id: UUIDStr | None = None
    transfer_trunk_id: UUIDStr | None = None
    is_active: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        return _fold(data, ("assistant_id", "assistantId"), ("agent_id", "agentId"))

    @field_validator("is_active")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null")
        return value


# ---------------------------------------------------------------- SIP trunks
class SipTrunkCreate(ApiModel):
    name: NonEmptyShortStr
    host: Host
    port: int = Field(default=5060, ge=1, le=65535)
    transport: Literal["udp", "tcp", "tls"] = "udp"
    username: ShortStr | None = None
    password: Secret | None = Field(default=None, description="Write-only: stored encrypted, never returned")


# ---------------------------------------------------------------- BYOK
# Documented key prefixes only (OpenAI "sk-" incl. sk-proj-/sk-svcacct-, xAI "xai-", Resend "re_"). Deepgram,
# ElevenLabs, Gladia and Mistral document no fixed prefix, so none is required of them.
BYOK_KEY_PREFIXES: dict[str, str] = {"openai": "sk-", "xai": "xai-", "resend": "re_"}
BYOK_KEY_MIN, BYOK_KEY_MAX = 8, 512


class ByokSet(ApiModel):
    provider: ByokProvider
    api_key: str

    @field_validator("api_key", mode="before")
    @classmethod
    def _provider_key_format(cls, value: Any, info: ValidationInfo) -> Any:
        """Refuse at the door what no provider issues and what HTTP headers cannot carry (a key with
        a space or an accented letter would otherwise make every later call of the org fail)."""
        if not isinstance(value, str):
            return value  # pydantic's own "must be a string"
        if not BYOK_KEY_MIN <= len(value) <= BYOK_KEY_MAX:
            raise PydanticCustomError("invalid_parameter", "must be {lo} to {hi} characters long",
                                      {"lo": BYOK_KEY_MIN, "hi": BYOK_KEY_MAX})
        if not all("!" <= c <= "~" for c in value):
            raise PydanticCustomError("invalid_parameter",
                                      "must be printable ASCII without spaces or control characters")
        prefix = BYOK_KEY_PREFIXES.get(str(info.data.get("provider")))
        if prefix and not value.startswith(prefix):
            raise PydanticCustomError("invalid_parameter", "a {provider} key starts with '{prefix}'",
                                      {"provider": str(info.data.get("provider")), "prefix": prefix})
        return value


class ByokDelete(ApiModel):
    provider: ByokProvider


# ---------------------------------------------------------------- domains
class DomainCreate(ApiModel):
    """``domain`` is accepted as an alias of ``domain_name``."""

    model_config = _aliases_in_schema(domain="domain_name")

    domain_name: DomainName
    region: Literal["us-east-1", "eu-west-1", "sa-east-1", "ap-northeast-1"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _alias(cls, data: Any) -> Any:
        return _fold(data, ("domain",), ("domain_name", "domainName"))


class DomainSync(ApiModel):
    """``resendDomainId`` (Flireo SDK 2) or ``domain_id`` (SDK 1)."""

    model_config = _aliases_in_schema(resendDomainId="domain_id")

    domain_id: NonEmptyShortStr

    @model_validator(mode="before")
    @classmethod
    def _alias(cls, data: Any) -> Any:
        return _fold(data, ("resendDomainId", "resend_domain_id"), ("domain_id", "domainId"))
