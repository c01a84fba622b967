"""Organization request models."""

from __future__ import annotations

from chalicelib.models.common import ApiModel, NonEmptyShortStr, UUIDStr


class OrganizationCreate(ApiModel):
    name: NonEmptyShortStr
    parent_org_id: UUIDStr | None = None
