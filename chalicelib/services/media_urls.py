"""Signed public URLs of the media service's browser-call and listen-in WebSockets."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from chalicelib.security import MONITOR_TOKEN_TTL_SECONDS, SocketPurpose, make_socket_token
from chalicelib.settings import get_settings
from chalicelib.storage.calls import Call


def media_socket_url(purpose: SocketPurpose, call_id: str, org_id: str, expires: int) -> str:
    """``wss://<media host>/<web|monitor>/<call_id>?token=...`` on the media service's public listener."""
    parts = urlsplit(get_settings().media_ws_url)
    token = make_socket_token(get_settings().call_token_secret, purpose, call_id, org_id, expires=expires)
    return f"{parts.scheme}://{parts.netloc}/{purpose}/{call_id}?{urlencode({'token': token})}"


def monitor_view(call: Call) -> dict[str, Any]:
    """``monitor`` of the Call object: the listen socket while the call is in progress, control always."""
    control_url = f"{get_settings().public_base_url}/api/v1/calls/{call.id}/control"
    listen_url = None
    if call.status == "in-progress":
        listen_url = media_socket_url("monitor", call.id, call.org_id, int(time.time()) + MONITOR_TOKEN_TTL_SECONDS)
    return {"listen_url": listen_url, "control_url": control_url}

