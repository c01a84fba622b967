"""API models for numbers, SIP trunks, BYOK keys and domains."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

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


# ---------------------------------------------------------------- numbers
class NumberCreate(ApiModel):
    phone_number: E164 | None = None
    number: E164 | None = Field(default=None, description="Alias of phone_number (Flireo quickstart)")
    name: ShortStr | None = None
    agent_id: UUIDStr | None = None
    assistant_id: UUIDStr | None = Field(default=None, description="Alias of agent_id")
    transfer_trunk_id: UUIDStr | None = None
    is_active: bool = True

    @model_validator(mode="after")
    def _aliases(self) -> NumberCreate:
        if self.phone_number and self.number and self.phone_number != self.number:
            raise ValueError("'phone_number' and 'number' disagree; send one of them")
        self.phone_number = self.phone_number or self.number
        if not self.phone_number:
            raise ValueError("'phone_number' is required")
        if self.agent_id and self.assistant_id and self.agent_id != self.assistant_id:
            raise ValueError("'agent_id' and 'assistant_id' disagree; send one of them")
        self.agent_id = self.agent_id or self.assistant_id
        return self


class NumberUpdate(ApiModel):
    name: ShortStr | None = None
    agent_id: UUIDStr | None = None
    assistant_id: UUIDStr | None = Field(default=None, description="Alias of agent_id")
    transfer_trunk_id: UUIDStr | None = None
    is_active: bool | None = None

    def changes(self) -> dict[str, Any]:
        """Fields sent, with the alias folded in (``null`` clears agent and trunk)."""
        out = self.model_dump(exclude_unset=True)
        if "assistant_id" in out:
            value = out.pop("assistant_id")
            if "agent_id" in out and out["agent_id"] != value:
                raise ValueError("'agent_id' and 'assistant_id' disagree; send one of them")
            out["agent_id"] = value
        if out.get("is_active", True) is None:
            raise ValueError("'is_active' cannot be null")
        return out


# ---------------------------------------------------------------- SIP trunks
class SipTrunkCreate(ApiModel):
    name: NonEmptyShortStr
    host: Host
    port: int = Field(default=5060, ge=1, le=65535)
    transport: Literal["udp", "tcp", "tls"] = "udp"
    username: ShortStr | None = None
    password: Secret | None = Field(default=None, description="Write-only: stored encrypted, never returned")


# ---------------------------------------------------------------- BYOK
class ByokSet(ApiModel):
    provider: ByokProvider
    api_key: Secret


class ByokDelete(ApiModel):
    provider: ByokProvider


# ---------------------------------------------------------------- domains
class DomainCreate(ApiModel):
    domain_name: DomainName | None = None
    domain: DomainName | None = Field(default=None, description="Alias of domain_name")
    region: Literal["us-east-1", "eu-west-1", "sa-east-1", "ap-northeast-1"] | None = None

    @model_validator(mode="after")
    def _alias(self) -> DomainCreate:
        self.domain_name = self.domain_name or self.domain
        if not self.domain_name:
            raise ValueError("'domain_name' is required")
        return self


class DomainSync(ApiModel):
    resend_domain_id: NonEmptyShortStr | None = Field(default=None, alias="resendDomainId")
    domain_id: NonEmptyShortStr | None = None

    @model_validator(mode="after")
    def _alias(self) -> DomainSync:
        self.domain_id = self.domain_id or self.resend_domain_id
        if not self.domain_id:
            raise ValueError("'resendDomainId' (or 'domain_id') is required")
        return self
