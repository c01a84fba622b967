"""ECS task scale-in protection: set while calls are live, cleared when idle, against a fake ECS agent."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Agent(ThreadingHTTPServer):
    """The ECS agent's task-protection endpoint as documented: PUT JSON, 200 with the protection state."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _AgentHandler)
        self.puts: list[dict] = []

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/abc"


class _AgentHandler(BaseHTTPRequestHandler):
    server: _Agent

    def do_PUT(self) -> None:
        if self.path != "/api/abc/task-protection/v1/state" or self.headers["Content-Type"] != "application/json":
            self.send_error(404)
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.puts.append(body)
        out = json.dumps({"protection": {"ProtectionEnabled": body["ProtectionEnabled"],
                                         "TaskArn": "arn:aws:ecs:eu-west-1:111122223333:task/voice/abc"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


def test_protected_while_calls_are_live_and_cleared_when_idle(stack):
    from media.protection import ScaleInProtection
    from tests.media.conftest import ASSISTANT_MIN

    agent = _Agent()
    threading.Thread(target=agent.serve_forever, daemon=True).start()
    media = stack.media.media
    media.protection = ScaleInProtection(agent.uri)
    first, first_token = stack.call(ASSISTANT_MIN)
    second, second_token = stack.call(ASSISTANT_MIN)
    seen: dict[str, list[dict]] = {}

    async def scenario() -> None:
        a = stack.caller(first, first_token)
        await a.connect()
        assert await a.wait_agent_turn(a.log.started_at, timeout=10) is not None
        b = stack.caller(second, second_token)
        await b.connect()
        assert await b.wait_agent_turn(b.log.started_at, timeout=10) is not None
        await a.hang_up()
        await asyncio.sleep(0.5)
        seen["one_left"] = list(agent.puts)  # one call still live: no clear yet
        await b.hang_up()

    try:
        asyncio.run(scenario())
        stack.wait_ended(first)
        stack.wait_ended(second)
        for _ in range(100):
            if len(agent.puts) >= 2:
                break
            threading.Event().wait(0.05)
    finally:
        agent.shutdown()
    assert seen["one_left"] == [{"ProtectionEnabled": True, "ExpiresInMinutes": 120}]
    assert agent.puts == [{"ProtectionEnabled": True, "ExpiresInMinutes": 120}, {"ProtectionEnabled": False}]
    assert media.protection.enabled is False


def test_an_unreachable_agent_is_logged_not_raised():
    from media.protection import ScaleInProtection

    protection = ScaleInProtection("http://127.0.0.1:9/api/none")
    asyncio.run(protection.update(1))
    assert protection.enabled is False  # retried on the next change
