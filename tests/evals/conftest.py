"""The workflows' fixtures (moto Step Functions with the real task handlers, the webhook receiver), the
whole sandbox answering test calls, and the API served over HTTP for the CLI."""

import threading
from urllib.parse import urlencode

import pytest

from tests.calls import conftest as _calls
from tests.media.conftest import ServerThread
from tests.workflows import conftest as _workflows
from tests.workflows.conftest import PUBLIC_BASE

# Fixtures reused here (bound by name: pytest finds fixtures among a conftest's globals).
client, receiver, sfn = _workflows.client, _workflows.receiver, _workflows.sfn
webhook_queue = _calls.webhook_queue


@pytest.fixture(autouse=True)
def _local_receivers_allowed(allow_private_urls):
    """The receivers and fakes here listen on 127.0.0.1 (tests/conftest.py ``allow_private_urls``)."""


@pytest.fixture
def sandbox(aws, client, sfn, monkeypatch):
    from chalicelib.settings import reset_settings
    from sandbox.run import install_answerer, start_sandbox
    from sandbox.twilio import FakeTwilio

    sb = start_sandbox()
    tw = FakeTwilio().start()
    tw.auto_progress = "answered"
    env = {**sb.env(), "TWILIO_ACCOUNT_SID": tw.account_sid, "TWILIO_AUTH_TOKEN": tw.auth_token,
           "TWILIO_API_URL": tw.base_url, "PUBLIC_BASE_URL": PUBLIC_BASE, "CALL_TOKEN_SECRET": "e2e-call-secret",
           "MEDIA_CONTROL_SECRET": "e2e-control-secret", "EVAL_JUDGE": "sandbox", "EVAL_POLL_SECONDS": "1",
           "EVAL_CALL_TIMEOUT_SECONDS": "90", "RATE_LIMIT_PER_MINUTE": "100000"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    from media.settings import reset_media_settings

    reset_media_settings()  # the media server reads SANDBOX_REGISTRY_URLS (the eval caller registers its lines)
    media = ServerThread().start()
    monkeypatch.setenv("MEDIA_WS_URL", media.ws_url)
    monkeypatch.setenv("MEDIA_CONTROL_URL", media.http_url)
    reset_settings()

    def send(url: str, form: list[tuple[str, str]], headers: dict[str, str]) -> tuple[int, str]:
        resp = client.http.post(url[len(PUBLIC_BASE):], body=urlencode(form),
                                headers={"Content-Type": "application/x-www-form-urlencoded", **headers})
        return resp.status_code, resp.body.decode() if isinstance(resp.body, bytes) else str(resp.body)

    tw.callback_sender = send
    install_answerer(tw, sb)
    yield sb
    media.stop()
    reset_media_settings()
    tw.stop()
    sb.stop()


@pytest.fixture
def http_api(app, sfn):
    """The API on Chalice's local server (an ephemeral port); yields its /api/v1 base URL."""
    from chalice.config import Config
    from chalice.local import CustomLocalChalice, LocalDevServer, create_local_server

    config = Config.create(chalice_stage="dev", app_name="voice-platform")
    if isinstance(app, CustomLocalChalice):  # already wrapped by an earlier test: wrapping twice fails
        server = LocalDevServer(app, config, "127.0.0.1", 0)
    else:
        server = create_local_server(app, config, "127.0.0.1", 0)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server.server_address[1]}/api/v1"
    server.server.shutdown()
    server.server.server_close()
