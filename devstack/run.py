"""`make dev`: the whole platform on one machine, no AWS account, no keys.

A stack is an ordered list of components, each with a start and a stop. ``run()`` starts them in
order and stops the ones that started in reverse order on Ctrl-C / SIGTERM (or when a start fails).
Built in, in this order:

- ``moto``: a ThreadedMotoServer on 127.0.0.1 (the local AWS), Step Functions executing and Lambda
  without Docker, DynamoDB persisted as a pickle snapshot under the state dir (loaded at start,
  saved every few seconds and on stop);
- ``tables``: every DynamoDB table from the pynamodb models;
- ``api``: the Chalice app served by Chalice's local server in a thread, unknown routes as flat 404s;
- ``demo-org``: a demo organization created once, with a demo assistant and a sandbox number
  (``seed_demo``); its key and their ids are remembered in the state dir.

Other parts (sandbox providers, fake Twilio, media service) join with ``register_component()``
(``devstack.platform.install()`` registers them; ``python -m devstack`` installs them and runs);
``process_component()`` wraps a subprocess. Once everything runs, the stack writes
``<state dir>/dev.env`` (BASE_URL, API_KEY, plus what components add) and prints it.

Environment: DEV_STATE_DIR (default .local), MOTO_PORT or DEV_MOTO_PORT (default 5005), API_PORT
(default 8000), DEV_SNAPSHOT_SECONDS (default 10). A port of 0 picks a free one (tests use that).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from devstack.stack import ROOT, Component, Stack, process_component, wait_http

__all__ = ["COMPONENTS", "ROOT", "Component", "Stack", "process_component", "register_component", "run",
           "wait_http"]

log = logging.getLogger("devstack")

# The stack's components in start order: the built-ins below, then what register_component() adds.
COMPONENTS: list[Component] = []


def register_component(component: Component, *, after: str | None = None, before: str | None = None) -> None:
    """Add a component (at the end, or right after/before a named one). Replaces one of the same name."""
    names = [c.name for c in COMPONENTS]
    if component.name in names:
        COMPONENTS[names.index(component.name)] = component
        return
    if after is not None:
        COMPONENTS.insert(names.index(after) + 1, component)
    elif before is not None:
        COMPONENTS.insert(names.index(before), component)
    else:
        COMPONENTS.append(component)


# ---------------------------------------------------------------- moto (local AWS) + snapshot
def _port(*names: str, default: int) -> int:
    for name in names:
        raw = os.environ.get(name)
        if raw:
            return int(raw)
    return default


def _snapshot_path(stack: Stack) -> Path:
    return stack.state_dir / "moto-dynamodb.pickle"


def save_snapshot(stack: Stack) -> None:
    """Pickle moto's DynamoDB tables (tied to the moto version; a mismatch is ignored on load)."""
    import moto
    from moto.dynamodb.models import dynamodb_backends

    for _ in range(5):  # a request thread may mutate a table mid-pickle: retry
        try:
            tables = {(account, region): backend.tables for account, regions in dynamodb_backends.items()
                      for region, backend in regions.items() if backend.tables}
            blob = pickle.dumps({"moto": moto.__version__, "tables": tables})
            break
        except RuntimeError:
            time.sleep(0.05)
    else:
        log.warning("snapshot skipped: tables kept changing")
        return
    path = _snapshot_path(stack)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, path)


def load_snapshot(stack: Stack) -> int:
    import moto
    from moto.dynamodb.models import dynamodb_backends

    path = _snapshot_path(stack)
    if not path.exists():
        return 0
    try:
        state = pickle.loads(path.read_bytes())  # noqa: S301 - our own file under the state dir
    except Exception as exc:  # noqa: BLE001 - a corrupt snapshot must not stop the stack
        log.warning("ignoring unreadable snapshot %s: %s", path, exc)
        return 0
    if state.get("moto") != moto.__version__:
        log.warning("ignoring snapshot from moto %s (running %s)", state.get("moto"), moto.__version__)
        return 0
    count = 0
    for (account, region), tables in state["tables"].items():
        dynamodb_backends[account][region].tables.update(tables)
        count += len(tables)
    return count


def _start_moto(stack: Stack) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.core.config import default_user_config
    from moto.server import ThreadedMotoServer

    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
    default_user_config.setdefault("lambda", {})["use_docker"] = False
    restored = load_snapshot(stack)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_port("MOTO_PORT", "DEV_MOTO_PORT", default=5005),
                                verbose=False)
    server.start()
    port = server.get_host_and_port()[1]
    url = f"http://127.0.0.1:{port}"
    # The Step Functions interpreter calls Lambda/DynamoDB/SQS on localhost:$MOTO_PORT.
    stack.set_env(MOTO_PORT=str(port), AWS_ENDPOINT_URL=url)
    stack.values.update(moto_server=server, moto_url=url)
    stack.dev_env["AWS_ENDPOINT_URL"] = url

    interval = float(os.environ.get("DEV_SNAPSHOT_SECONDS", "10"))

    def saver() -> None:
        while not stack.stop_event.wait(interval):
            try:
                save_snapshot(stack)
            except Exception:  # noqa: BLE001 - keep saving on the next tick
                log.exception("snapshot failed")

    thread = threading.Thread(target=saver, name="moto-snapshot", daemon=True)
    thread.start()
    stack.values["snapshot_thread"] = thread
    print(f"Local AWS (moto):  {url}  ({restored} tables restored from {_snapshot_path(stack)})", flush=True)


def _stop_moto(stack: Stack) -> None:
    thread = stack.values.pop("snapshot_thread", None)
    if thread is not None:
        thread.join(5)
    save_snapshot(stack)
    server = stack.values.pop("moto_server", None)
    if server is not None:
        server.stop()


# ---------------------------------------------------------------- tables, API, demo org
def _start_tables(stack: Stack) -> None:
    from chalicelib.storage.tables import create_tables

    created = create_tables()
    if created:
        print(f"Created tables:    {', '.join(created)}", flush=True)


def _start_api(stack: Stack) -> None:
    from chalice.config import Config
    from chalice.local import create_local_server

    from devstack import gateway

    gateway.install()
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import app as app_module

    disk = json.loads((ROOT / ".chalice" / "config.json").read_text())
    config = Config.create(chalice_stage="dev", app_name=disk.get("app_name", "voice-platform"),
                           project_dir=str(ROOT), config_from_disk=disk)
    server = create_local_server(app_module.app, config, "127.0.0.1", _port("API_PORT", default=8000))
    port = server.server.server_address[1]
    thread = threading.Thread(target=server.server.serve_forever, name="chalice-local", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}/api/v1"
    public = os.environ.get("PUBLIC_BASE_URL", "")
    if not public or public.endswith(":0"):
        # Twilio callbacks (the fake Twilio in dev) must reach the port actually bound.
        from chalicelib.settings import reset_settings

        os.environ["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
        reset_settings()
    stack.values.update(api_server=server, api_thread=thread, base_url=base)
    stack.dev_env["BASE_URL"] = base
    stack.dev_env["CONSOLE_URL"] = f"http://127.0.0.1:{port}/console"
    wait_http(base + "/health", 30)
    print(f"API:               {base}  (docs: {base}/docs)", flush=True)
    print(f"Console:           {stack.dev_env['CONSOLE_URL']}", flush=True)


def _stop_api(stack: Stack) -> None:
    server = stack.values.pop("api_server", None)
    if server is not None:
        server.server.shutdown()
        server.server.server_close()
    thread = stack.values.pop("api_thread", None)
    if thread is not None:
        thread.join(5)


def _demo_file(stack: Stack) -> Path:
    return stack.state_dir / "demo-org.json"


def _start_demo_org(stack: Stack) -> None:
    from chalicelib import errors
    from chalicelib.services import auth
    from chalicelib.services.orgs import create_org

    path = _demo_file(stack)
    if path.exists():
        saved = json.loads(path.read_text())
        try:
            if auth.authenticate(f"Bearer {saved['api_key']}").org_id == saved["org_id"]:
                if "assistant_id" not in saved:  # state from before the demo was seeded
                    saved.update(seed_demo(saved["org_id"]))
                    path.write_text(json.dumps(saved, indent=2) + "\n")
                stack.values["demo"] = saved
                stack.dev_env["API_KEY"] = saved["api_key"]
                print(f"Demo organization: {saved['org_id']} (existing)", flush=True)
                return
        except (errors.ApiError, KeyError):
            pass  # the snapshot was deleted or the key revoked: make a new one
    org, key = create_org("Demo Organization", None, minutes_balance=1000)
    saved = {"org_id": org.id, "api_key": key, **seed_demo(org.id)}
    path.write_text(json.dumps(saved, indent=2) + "\n")
    os.chmod(path, 0o600)
    stack.values["demo"] = saved
    stack.dev_env["API_KEY"] = key
    print(f"Demo organization: {org.id} (created, with the assistant \"{DEMO_ASSISTANT['name']}\" on "
          f"{DEMO_NUMBER})", flush=True)


# What a newcomer's first simulated or browser call uses, so it needs no setup (the demo org's first
# outbound call needs a caller-id number and an assistant). +1 202-555-01xx is reserved for fiction.
DEMO_NUMBER = "+12025550100"
DEMO_ASSISTANT: dict[str, Any] = {
    "name": "Demo receptionist",
    "business_name": "Acme Dental",
    "first_message": "Hi, thanks for calling Acme Dental. How can I help?",
    "stt_config": {"provider": "deepgram", "model": "nova-3-general", "language": "en"},
    "llm_config": {"provider": "openai", "model": "gpt-4o-mini",
                   "messages": [{"role": "system", "content": "You are a friendly receptionist at Acme Dental. "
                                 "Keep answers short."}],
                   "tools": [{"type": "endCall"}]},
    "tts_config": {"provider": "elevenlabs", "voice_id": "21m00Tcm4TlvDq8ikWAM"},
}


def seed_demo(org_id: str) -> dict[str, str]:
    """The demo assistant and a sandbox number pointing at it; their ids (kept in demo-org.json)."""
    from chalicelib import errors
    from chalicelib.models.assistant import AssistantCreate
    from chalicelib.models.resources import NumberCreate
    from chalicelib.services.assistants import create_assistant
    from chalicelib.services.numbers import create_number

    assistant = create_assistant(org_id, AssistantCreate.model_validate(DEMO_ASSISTANT))
    try:
        number = create_number(org_id, NumberCreate.model_validate(
            {"phone_number": DEMO_NUMBER, "name": "Sandbox line", "agent_id": assistant["id"]}))
    except errors.ApiError as exc:  # e.g. the number is held by an older demo org in a kept snapshot
        log.warning("demo number not created: %s", exc.message)
        return {"assistant_id": assistant["id"]}
    return {"assistant_id": assistant["id"], "number_id": number["id"]}


# The built-ins, in start order; register_component(..., after="api") slots others in between.
COMPONENTS.extend([
    Component("moto", _start_moto, _stop_moto),
    Component("tables", _start_tables),
    Component("api", _start_api, _stop_api),
    Component("demo-org", _start_demo_org),
])


# ---------------------------------------------------------------- running the stack
def _local_environment(state_dir: Path) -> None:
    """Defaults for a laptop: dummy AWS credentials (never real ones), no X-Ray daemon."""
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "AWS_REGION": os.environ.get("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1")),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "VoiceDev"),
    })
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.setdefault("STAGE", "dev")
    os.environ.setdefault("TABLE_PREFIX", "voice-dev-")
    # The stack's own webhook receiver and tool servers listen on 127.0.0.1 (chalicelib/netguard.py).
    os.environ.setdefault("ALLOW_PRIVATE_URLS", "true")
    state_dir.mkdir(parents=True, exist_ok=True)


def write_dev_env(stack: Stack) -> Path:
    first = ("BASE_URL", "API_KEY", "CONSOLE_URL")
    lines = [f"{k}={stack.dev_env[k]}" for k in first if k in stack.dev_env]
    lines += [f"{k}={v}" for k, v in stack.dev_env.items() if k not in first]
    path = stack.state_dir / "dev.env"
    path.write_text("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return path


def run(state_dir: Path | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log.setLevel(logging.INFO)
    state_dir = state_dir or Path(os.environ.get("DEV_STATE_DIR") or ROOT / ".local")
    _local_environment(state_dir)
    stack = Stack(state_dir=state_dir.resolve())
    stack.dev_env.update({"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
                          "AWS_DEFAULT_REGION": os.environ["AWS_DEFAULT_REGION"],
                          "TABLE_PREFIX": os.environ["TABLE_PREFIX"]})

    def on_signal(signum: int, _frame: Any) -> None:
        stack.stop_event.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    started: list[Component] = []
    code = 0
    try:
        for component in COMPONENTS:
            if stack.stop_event.is_set():
                break
            component.start(stack)
            started.append(component)
        else:
            path = write_dev_env(stack)
            print(f"\nReady. Wrote {path}:", flush=True)
            print(path.read_text(), flush=True)
            print(f"Open the console: {stack.dev_env.get('CONSOLE_URL')}  (sign in with API_KEY)", flush=True)
            print("Try:  curl -H \"Authorization: Bearer $API_KEY\" $BASE_URL/assistants", flush=True)
            print("Ctrl-C stops everything.", flush=True)
            stack.stop_event.wait()
    except Exception:  # noqa: BLE001 - report, then stop whatever started
        log.exception("dev stack failed to start")
        code = 1
    finally:
        stack.stop_event.set()
        for component in reversed(started):
            if component.stop is None:
                continue
            try:
                component.stop(stack)
            except Exception:  # noqa: BLE001 - keep stopping the others
                log.exception("stopping %s failed", component.name)
        print("Stopped.", flush=True)
    return code
