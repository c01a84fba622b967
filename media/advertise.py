"""The control address this media process records on its calls, so a Lambda can reach the holding task.

Order: MEDIA_CONTROL_ADVERTISE_URL if set; on ECS the task's private IPv4 from the task metadata endpoint
(``$ECS_CONTAINER_METADATA_URI_V4/task``); otherwise loopback (a single local process).
"""

from __future__ import annotations

import json
import urllib.request

from pydantic import BaseModel, Field

from media.settings import StartupRefused

METADATA_TIMEOUT_SECONDS = 2.0


class _Network(BaseModel):
    ipv4_addresses: list[str] = Field(default_factory=list, alias="IPv4Addresses")


class _Container(BaseModel):
    networks: list[_Network] = Field(default_factory=list, alias="Networks")


class _TaskMetadata(BaseModel):
    containers: list[_Container] = Field(default_factory=list, alias="Containers")


def task_ipv4(metadata_uri: str) -> str:
    """The task's first IPv4 address (awsvpc: every container of the task shares it).

    Raises StartupRefused when the endpoint does not answer or names no address: a task that cannot say
    where it is must not take calls nobody could control.
    """
    url = metadata_uri.rstrip("/") + "/task"
    try:
        with urllib.request.urlopen(url, timeout=METADATA_TIMEOUT_SECONDS) as resp:  # noqa: S310 - the ECS agent's local endpoint
            task = _TaskMetadata.model_validate(json.loads(resp.read()))
    except (OSError, ValueError) as exc:
        raise StartupRefused(f"ECS task metadata unavailable at {url}: {exc}") from exc
    for container in task.containers:
        for network in container.networks:
            if network.ipv4_addresses:
                return network.ipv4_addresses[0]
    raise StartupRefused(f"ECS task metadata at {url} names no IPv4 address")


def control_base_url(*, advertise_url: str | None, metadata_uri: str | None, control_port: int) -> str:
    """Where the control plane reaches this process (blocking: call once at startup, off the loop)."""
    if advertise_url:
        return advertise_url.rstrip("/")
    if metadata_uri:
        return f"http://{task_ipv4(metadata_uri)}:{control_port}"
    return f"http://127.0.0.1:{control_port}"
