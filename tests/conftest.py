"""Shared fixtures: in-process moto (DynamoDB, KMS, SQS, Step Functions) and a Chalice test client."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Settings read the environment: pin a safe test environment before anything imports the app.
os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "TABLE_PREFIX": "test-",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "VoiceTest",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
    "STAGE": "test",
})
os.environ.pop("AWS_ENDPOINT_URL", None)
# Sandbox speech is cached on disk: each test session (and the subprocesses it starts) gets its own
# cache, never one another checkout, agent or earlier run filled.
_AUDIO_CACHE = tempfile.mkdtemp(prefix="voice-sandbox-audio-")
os.environ["SANDBOX_AUDIO_CACHE"] = _AUDIO_CACHE

import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402
from moto.core.config import DefaultConfig  # noqa: E402

from devstack import gateway  # noqa: E402

gateway.install()


def pytest_report_header(config):
    from sandbox import ids

    return f"sandbox ids seed: {ids.seed()} (replay with SANDBOX_SEED={ids.seed()})"


def pytest_unconfigure(config):
    shutil.rmtree(_AUDIO_CACHE, ignore_errors=True)


# ---------------------------------------------------------------- test lanes
# Every test gets exactly one lane marker (registered in pyproject.toml). `make test-fast` runs
# `-m unit`; `make test` runs them all. A lane marker written on a test or module wins; otherwise the
# first rule that matches, most expensive first:
#   infra        CDK synthesis, cfn-lint: everything under tests/infra/, or the `synth` fixture.
#   e2e          a media server or a simulated call: tests/media/test_e2e_*, the fixtures below that
#                start the media stack or the whole sandbox, and the modules in E2E_MODULES.
#   integration  moto, the Chalice test client, or a fake/real server on a socket: the fixtures below,
#                the real adapter of a contract suite (a `dynamodb` parameter), INTEGRATION_MODULES.
#   unit         none of the above: pure logic in this process.
LANES = ("unit", "integration", "e2e", "infra")
E2E_FIXTURES = {"media_server", "stack", "sandbox"}
INTEGRATION_FIXTURES = {
    "aws", "app", "client", "api",  # moto and the Chalice test client (every other AWS fixture needs `aws`)
    "fake", "media", "receiver", "control_server", "eleven", "resend", "openai_fake", "start_xai",  # servers
}
# Modules that start a process or a server in the test body, where no fixture says so.
E2E_MODULES = {
    "tests/foundation/test_dev_stack.py",  # `python -m devstack`: the whole platform as a subprocess
    "tests/media/test_server_ops.py",  # `python -m media.server` as a subprocess
    "tests/sandbox/test_run.py",  # the sandbox answering calls with simulated callers
}
INTEGRATION_MODULES = {
    "tests/resources/test_fakes.py",  # the provider fakes on sockets, through the real SDKs
    "tests/workflows/test_devstack_server_mode.py",  # a ThreadedMotoServer
}


def _lane(item: pytest.Item) -> str:
    explicit = {m.name for m in item.iter_markers() if m.name in LANES}
    if len(explicit) > 1:
        raise pytest.UsageError(f"{item.nodeid}: one lane only, got {sorted(explicit)}")
    if explicit:
        return explicit.pop()
    path = item.path.relative_to(ROOT).as_posix()
    fixtures = set(getattr(item, "fixturenames", ()))
    params = getattr(getattr(item, "callspec", None), "params", {})
    if path.startswith("tests/infra/") or "synth" in fixtures:
        return "infra"
    if path.startswith("tests/media/test_e2e_") or path in E2E_MODULES or fixtures & E2E_FIXTURES:
        return "e2e"
    if (path.startswith("tests/integration/") or path in INTEGRATION_MODULES or fixtures & INTEGRATION_FIXTURES
            or "dynamodb" in params.values()):
        return "integration"
    return "unit"


def pytest_collection_modifyitems(config, items):
    for item in items:
        lane = _lane(item)
        if not item.get_closest_marker(lane):
            item.add_marker(getattr(pytest.mark, lane))


MOTO_CONFIG: DefaultConfig = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


def _reset_caches() -> None:
    from chalicelib.settings import reset_settings
    from media.settings import reset_media_settings

    reset_settings()
    reset_media_settings()
    # lru_cache'd clients and repositories must not outlive one moto context.
    import chalicelib.crypto as crypto

    crypto._kms.cache_clear()


@pytest.fixture(autouse=True)
def _own_environment():
    """Each test gets the environment it started with back: dev-stack components started in-process
    (``Stack.set_env``) write os.environ directly, and a later test must not run with their values."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)
        _reset_caches()


@pytest.fixture
def aws():
    """A fresh in-process AWS with every table created."""
    with mock_aws(config=MOTO_CONFIG):
        _reset_caches()
        from chalicelib.storage.tables import create_tables

        create_tables()
        yield
        _reset_caches()


@pytest.fixture
def app(aws):
    import app as app_module

    return app_module.app


@pytest.fixture
def client(app):
    from chalice.test import Client

    with Client(app) as c:
        yield c


class Api:
    """Small JSON helper over chalice.test.Client with a bearer key."""

    def __init__(self, client, key: str | None):
        self.client = client
        self.key = key

    def _headers(self, extra=None, key=None):
        h = {"Content-Type": "application/json"}
        k = key if key is not None else self.key
        if k:
            h["Authorization"] = f"Bearer {k}"
        h.update(extra or {})
        return h

    def request(self, method, path, body=None, *, raw=None, headers=None, key=None):
        import json

        payload = raw if raw is not None else (json.dumps(body) if body is not None else None)
        url = path if path.startswith("/api/") or path.startswith("/twilio") else "/api/v1" + path
        resp = self.client.http.request(method, url, headers=self._headers(headers, key), body=payload)
        resp.data = json.loads(resp.body) if resp.body and resp.headers.get("Content-Type", "").startswith(
            "application/json") else None
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body, **kw)

    def delete(self, path, body=None, **kw):
        return self.request("DELETE", path, body, **kw)


@pytest.fixture
def org(aws):
    """An organization and its API key: (org, key)."""
    from chalicelib.services.orgs import create_org

    return create_org("Acme Dental", None, minutes_balance=100)


@pytest.fixture
def other_org(aws):
    from chalicelib.services.orgs import create_org

    return create_org("Other Org", None, minutes_balance=100)


@pytest.fixture
def api(client, org):
    return Api(client, org[1])


@pytest.fixture
def other_api(client, other_org):
    return Api(client, other_org[1])


@pytest.fixture
def allow_private_urls(monkeypatch):
    """Allow private webhook/tool targets, as the dev stack does, for receivers and fakes on 127.0.0.1
    (tests/foundation/test_ssrf.py checks the default, which refuses them)."""
    from chalicelib.settings import reset_settings

    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "true")
    reset_settings()
    yield
    reset_settings()
