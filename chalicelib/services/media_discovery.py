"""Which media tasks can take a new call: the answers Cloud Map's DNS gives for MEDIA_CONTROL_URL's name.

On AWS the service-discovery name has one A record per running media task (all on the same control
port). Locally ``MEDIA_DISCOVERY_HOSTS`` stands in for that DNS ("name=addr,addr;..."). The order is
rotated per call, so ring-time admissions spread over the tasks the way DNS answers would.
"""

from __future__ import annotations

import socket
import zlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from chalicelib.settings import get_settings


@dataclass(frozen=True)
class MediaTask:
    """One media task's control endpoint: where to connect and the Host the request names."""

    base_url: str
    host_header: str


def _static_hosts(spec: str | None) -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    for entry in (spec or "").split(";"):
        name, _, addrs = entry.partition("=")
        if name.strip() and addrs.strip():
            table[name.strip().lower()] = [a.strip() for a in addrs.split(",") if a.strip()]
    return table


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return []
    seen: list[str] = []
    for info in infos:
        addr = str(info[4][0])
        if addr not in seen:
            seen.append(addr)
    return seen


def media_tasks(call_id: str) -> list[MediaTask]:
    """Every media task behind MEDIA_CONTROL_URL, in this call's order (empty when none is configured)."""
    s = get_settings()
    if not s.media_control_url:
        return []
    parts = urlsplit(s.media_control_url.rstrip("/"))
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addrs = _static_hosts(s.media_discovery_hosts).get(host.lower()) or _resolve(host, port)
    if not addrs:  # unresolvable now: let the HTTP client report it
        return [MediaTask(s.media_control_url.rstrip("/"), parts.netloc)]
    start = zlib.crc32(call_id.encode()) % len(addrs)
    ordered = addrs[start:] + addrs[:start]
    return [MediaTask(f"{parts.scheme}://{f'[{a}]' if ':' in a else a}:{port}", parts.netloc) for a in ordered]
