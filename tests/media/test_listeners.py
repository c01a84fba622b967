"""The media process's listeners and startup: control port, advertised control address, fail-closed settings."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The documented shape of the ECS task metadata v4 ``/task`` response (trimmed to what we read, plus
# neighbours so the parser must pick the right field).
TASK_METADATA = {
    "Cluster": "arn:aws:ecs:eu-west-1:111122223333:cluster/voice",
    "TaskARN": "arn:aws:ecs:eu-west-1:111122223333:task/voice/158d1c8083dd49d6b527399fd6414f5c",
    "LaunchType": "FARGATE",
    "Containers": [{
        "Name": "media",
        "Networks": [{"NetworkMode": "awsvpc", "IPv4Addresses": ["10.0.2.106"],
                      "PrivateDNSName": "ip-10-0-2-106.eu-west-1.compute.internal"}],
    }],
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _MetadataHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/v4/abc/task":
            self.send_error(404)
            return
        body = json.dumps(TASK_METADATA).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


def _status(url: str, method: str = "GET") -> int:
    req = urllib.request.Request(url, data=b"{}" if method == "POST" else None, method=method)
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_control_port_is_its_own_listener_and_the_ecs_address_is_advertised(monkeypatch):
    from media.server import MediaServer, serve
    from media.settings import reset_media_settings

    metadata = ThreadingHTTPServer(("127.0.0.1", 0), _MetadataHandler)
    threading.Thread(target=metadata.serve_forever, daemon=True).start()
    monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", f"http://127.0.0.1:{metadata.server_address[1]}/v4/abc")
    monkeypatch.delenv("MEDIA_CONTROL_ADVERTISE_URL", raising=False)
    reset_media_settings()
    port, control_port = _free_port(), _free_port()
    media = MediaServer()
    seen: dict[str, int] = {}

    async def scenario() -> None:
        server = asyncio.create_task(serve("127.0.0.1", port, media, control_port=control_port))
        for _ in range(400):
            try:
                if await asyncio.to_thread(_status, f"http://127.0.0.1:{control_port}/healthz") == 200:
                    break
            except OSError:
                await asyncio.sleep(0.05)
        public, control = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{control_port}"
        seen["public_health"] = await asyncio.to_thread(_status, public + "/healthz")
        seen["public_prepare"] = await asyncio.to_thread(_status, public + "/calls/c1/prepare", "POST")
        seen["control_prepare"] = await asyncio.to_thread(_status, control + "/calls/c1/prepare", "POST")
        seen["control_command"] = await asyncio.to_thread(_status, control + "/calls/c1/control", "POST")
        if server.done():
            server.result()  # the server's own error fails the test (a SIGINT now would interrupt pytest)
        os.kill(os.getpid(), signal.SIGINT)
        await asyncio.wait_for(server, 10)

    try:
        asyncio.run(scenario())
    finally:
        metadata.shutdown()
    assert media.control_base_url == f"http://10.0.2.106:{control_port}"
    assert seen == {"public_health": 200, "public_prepare": 404,  # control is not on the public listener
                    "control_prepare": 401, "control_command": 401}  # there, unsigned requests are refused


def test_advertise_url_setting_wins_over_ecs_metadata(monkeypatch):
    from media.advertise import control_base_url

    url = control_base_url(advertise_url="http://media-1.internal:8766/", metadata_uri="http://127.0.0.1:9/v4/x",
                           control_port=8766)
    assert url == "http://media-1.internal:8766"


def test_unreachable_task_metadata_refuses_startup():
    import pytest

    from media.advertise import control_base_url
    from media.settings import StartupRefused

    with pytest.raises(StartupRefused, match="ECS task metadata unavailable"):
        control_base_url(advertise_url=None, metadata_uri=f"http://127.0.0.1:{_free_port()}/v4/x", control_port=8766)


def test_refuses_to_start_with_twilio_credentials_but_no_public_stream_url():
    env = {k: v for k, v in os.environ.items() if k != "MEDIA_PUBLIC_WS_URL"}
    env.update(MEDIA_PORT=str(_free_port()), PYTHONPATH=str(ROOT), TWILIO_ACCOUNT_SID="AC" + "a" * 32,
               TWILIO_AUTH_TOKEN="real-looking-token")
    proc = subprocess.run([sys.executable, "-m", "media.server"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 1
    assert "media service not started: MEDIA_PUBLIC_WS_URL is not set but Twilio credentials are" in proc.stderr
