"""A monitor listener that reached a media task not holding the call, relayed to the task that does.

Behind the load balancer a listen connection lands on any task; the call row names the holding task's
control address (``control_url``), and every task serves ``/monitor/{call_id}`` on its control listener
too. The relay connects there with the listener's own token (the owner checks it again), then copies the
owner's frames to the listener unchanged. A relayed connection carries ``RELAY_HEADER``: the owner never
relays it again, so a stale row cannot bounce a listener between tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import quote, urlsplit, urlunsplit

from starlette.websockets import WebSocket, WebSocketDisconnect

log = logging.getLogger("voice.media.relay")

RELAY_HEADER = "x-voice-monitor-relay"
CONNECT_TIMEOUT_SECONDS = 5.0


def owner_monitor_url(control_base: str, call_id: str, token: str) -> str:
    """``http(s)://task:port`` -> ``ws(s)://task:port/monitor/<call_id>?token=...``."""
    parts = urlsplit(control_base.rstrip("/"))
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, f"{parts.path}/monitor/{quote(call_id)}", f"token={quote(token)}", ""))


async def relay_listener(ws: WebSocket, url: str) -> bool:
    """Serve the (not yet accepted) listener ``ws`` from the owner's monitor socket at ``url``.

    False when the owner refuses or cannot be reached (the caller then refuses the listener); True once
    the relay has run and both sockets are closed.
    """
    import websockets

    try:
        upstream = await websockets.connect(url, additional_headers={RELAY_HEADER: "1"},
                                            open_timeout=CONNECT_TIMEOUT_SECONDS, compression=None)
    except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
        log.info("monitor relay to %s refused: %s", urlsplit(url).netloc, exc)
        return False
    await ws.accept()

    async def down() -> None:  # owner -> listener, frame for frame
        async for message in upstream:
            if isinstance(message, bytes):
                await ws.send_bytes(message)
            else:
                await ws.send_text(message)

    async def up() -> None:  # the listener is read-only: wait for it to leave
        with contextlib.suppress(WebSocketDisconnect):
            while (await ws.receive())["type"] != "websocket.disconnect":
                pass

    tasks = [asyncio.create_task(down()), asyncio.create_task(up())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await upstream.close()
        with contextlib.suppress(Exception):  # already closed by the listener
            await ws.close(code=1000)
    return True
