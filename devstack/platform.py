"""The full local platform for `make dev`: the built-in stack plus the stand-ins around it.

Order matters: the webhook queue needs moto; the workflows need the tables; the fake Twilio must
set its credentials before the API reads its settings; the sandbox providers make the fake Twilio
answer with simulated callers; the media service starts last and inherits every URL and key.

The components that wrap a sandbox fake (fake Twilio, sandbox providers, webhook queue) live here,
not in ``sandbox/``: devstack builds on the sandbox, and the sandbox knows nothing of devstack.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import sys
import threading
from typing import Any

from devstack.run import register_component
from devstack.sfn import workflows_component
from devstack.stack import Component, Stack, process_component
from sandbox.run import install_answerer, start_sandbox
from sandbox.twilio import FakeTwilio


def _free_port(avoid: int = 0) -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port != avoid:
            return port


def _workflow_env_component() -> Component:
    """Expose the state machine ARNs the workflows component created to the in-process API."""

    def start(stack: Stack) -> None:
        from chalicelib.settings import reset_settings

        for key in ("CALL_ANALYSIS_STATE_MACHINE_ARN", "CAMPAIGN_STATE_MACHINE_ARN", "EVAL_STATE_MACHINE_ARN"):
            if stack.dev_env.get(key):
                os.environ[key] = stack.dev_env[key]
        reset_settings()

    return Component("workflow-env", start)


def recordings_component() -> Component:
    """The call recordings bucket in the local AWS (RECORDINGS_BUCKET): `make dev` calls are recorded."""

    def start(stack: Stack) -> None:
        import boto3

        from chalicelib.settings import get_settings, reset_settings

        name = os.environ.get("RECORDINGS_BUCKET") or "voice-dev-recordings"
        s3 = boto3.client("s3", region_name=get_settings().region)
        try:
            s3.create_bucket(Bucket=name)
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        stack.set_env(RECORDINGS_BUCKET=name)
        stack.dev_env["RECORDINGS_BUCKET"] = name
        reset_settings()
        print(f"Recordings bucket: s3://{name}  (objects are not kept across restarts)", flush=True)

    return Component("recordings", start)


def media_component() -> Component:
    """The media service as a subprocess (`python -m media.server`) on MEDIA_PORT and, as on AWS, its control
    endpoints on their own MEDIA_CONTROL_PORT (8765 and 8766; 0 = a free port), restarted with backoff when
    it exits, as ECS replaces a stopped task (``DEV_MEDIA_RESTART=0``: not)."""
    state: dict[str, Component] = {}

    def start(stack: Stack) -> None:
        from chalicelib.settings import reset_settings

        # Free ports are picked here, just before the server binds them (components start one after
        # another): picked earlier, another component's listener could take one first.
        port = int(os.environ.get("MEDIA_PORT", "8765")) or _free_port()
        control_port = int(os.environ.get("MEDIA_CONTROL_PORT", "8766")) or _free_port(avoid=port)
        if control_port == port:
            raise ValueError(f"MEDIA_CONTROL_PORT must differ from MEDIA_PORT ({port}): control is not public")
        inner = state["inner"] = process_component(
            "media", [sys.executable, "-m", "media.server"],
            ready_url=f"http://127.0.0.1:{port}/healthz", timeout=60,
            env={"MEDIA_PORT": str(port), "MEDIA_CONTROL_PORT": str(control_port), "MEDIA_HOST": "127.0.0.1"},
            restart=os.environ.get("DEV_MEDIA_RESTART", "1") != "0")
        ws_url = f"ws://127.0.0.1:{port}/twilio/stream"
        control_url = f"http://127.0.0.1:{control_port}"
        stack.set_env(MEDIA_WS_URL=ws_url, MEDIA_CONTROL_URL=control_url, MEDIA_PUBLIC_WS_URL=ws_url)
        reset_settings()
        inner.start(stack)
        stack.dev_env["MEDIA_WS_URL"] = ws_url
        stack.dev_env["MEDIA_CONTROL_URL"] = control_url
        print(f"Media service:     {ws_url}  (healthz http://127.0.0.1:{port}/healthz, control {control_url})",
              flush=True)

    def stop(stack: Stack) -> None:
        if "inner" in state and state["inner"].stop is not None:
            state["inner"].stop(stack)

    return Component("media", start, stop)


def fake_twilio_component() -> Component:
    """A ``devstack`` component: FakeTwilio stands in for Twilio when no Twilio credentials are set.

    Skipped when TWILIO_API_URL is set (that server is used as given, never overwritten) or when a real
    TWILIO_ACCOUNT_SID is set. Otherwise
    sets TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN / TWILIO_API_URL for the app, publishes the fake as
    ``stack.values["fake_twilio"]`` (``sandbox_component`` then installs simulated callers
    as its ``on_answer`` hook) and makes every dialled call ring and answer by itself. Status callbacks
    go over HTTP to PUBLIC_BASE_URL (default ``http://127.0.0.1:$API_PORT``). Register it before
    "api" (and before the sandbox component):
    ``register_component(fake_twilio_component(), before="api")``.
    """

    def start(stack: Stack) -> None:
        external_url = os.environ.get("TWILIO_API_URL")
        if external_url:
            # A Twilio-compatible server chosen by the caller (a proxy, another fake): use it as given.
            stack.dev_env["TWILIO_API_URL"] = external_url
            print(f"Twilio:            {external_url}  (TWILIO_API_URL set)", flush=True)
            return
        if os.environ.get("TWILIO_ACCOUNT_SID"):
            print("Twilio:            real account (TWILIO_ACCOUNT_SID set)", flush=True)
            return
        fake = FakeTwilio(account_sid=os.environ.get("TWILIO_ACCOUNT_SID") or "AC" + "d" * 32,
                          auth_token=os.environ.get("TWILIO_AUTH_TOKEN") or "dev-" + secrets.token_hex(16),
                          port=int(os.environ.get("FAKE_TWILIO_PORT", "0"))).start()
        fake.auto_progress = os.environ.get("FAKE_TWILIO_OUTCOME", "answered")
        fake.ring_seconds = float(os.environ.get("FAKE_TWILIO_RING_SECONDS") or 0)
        env = {"TWILIO_ACCOUNT_SID": fake.account_sid, "TWILIO_AUTH_TOKEN": fake.auth_token,
               "TWILIO_API_URL": fake.base_url}
        if not os.environ.get("PUBLIC_BASE_URL"):
            env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{os.environ.get('API_PORT') or 8000}"
        stack.set_env(**env)
        stack.dev_env["TWILIO_API_URL"] = fake.base_url
        stack.values["fake_twilio"] = fake
        from chalicelib.settings import reset_settings

        reset_settings()
        print(f"Twilio (fake):     {fake.base_url}  callbacks -> {os.environ['PUBLIC_BASE_URL']}", flush=True)

    def stop(stack: Stack) -> None:
        fake = stack.values.pop("fake_twilio", None)
        if fake is not None:
            fake.stop()

    return Component("fake-twilio", start, stop)


def sandbox_component() -> Component:
    """A ``devstack`` component: start the sandbox providers when no real provider keys are set.

    Publishes ``stack.values["sandbox"]``, exports the provider URLs/keys to the environment (the media
    service subprocess inherits them) and to dev.env, and, when a ``FakeTwilio`` is in
    ``stack.values["fake_twilio"]`` (start it before this component), makes it answer with simulated callers.
    Register with ``devstack.run.register_component(sandbox_component(), before="api")`` or wherever fits.
    """

    def start(stack: Stack) -> None:
        if any(os.environ.get(k) for k in ("DEEPGRAM_API_KEY", "OPENAI_API_KEY", "ELEVENLABS_API_KEY",
                                           "XAI_API_KEY")):
            print("Sandbox providers: off (provider keys found in the environment)", flush=True)
            return
        sb = start_sandbox(port_base=int(os.environ.get("SANDBOX_PORT_BASE", "0")))
        stack.values["sandbox"] = sb
        env = sb.env()
        # The eval judge is the deterministic one while the providers are fakes (docs/evals.md).
        stack.set_env(**env, EVAL_JUDGE="sandbox")
        from chalicelib.settings import reset_settings

        reset_settings()
        stack.dev_env.update({"SANDBOX_CONTROL_URL": env["SANDBOX_CONTROL_URL"]})
        twilio = stack.values.get("fake_twilio")
        if twilio is not None:
            install_answerer(twilio, sb)
        print(f"Sandbox providers: Deepgram {sb.deepgram.ws_url}, OpenAI {sb.openai.url}/v1, "
              f"ElevenLabs {sb.elevenlabs.url}, xAI {sb.xai.url}, control {sb.control.url}", flush=True)

    def stop(stack: Stack) -> None:
        sb = stack.values.pop("sandbox", None)
        if sb is not None:
            sb.stop()

    return Component("sandbox", start, stop)


def webhook_queue_component() -> Component:
    """A ``devstack`` component: the webhook delay queue in the local AWS and its consumer.

    Creates the SQS queue in moto (WEBHOOK_QUEUE_URL for the app) and polls it in a thread, handing
    each batch to the same Chalice ``on_sqs_message`` handler Lambda runs (``webhook_retry``), so
    webhook retries and delayed call checks work under ``make dev``. Register it after "moto":
    ``register_component(webhook_queue_component(), after="moto")``.
    """

    def start(stack: Stack) -> None:
        import boto3

        from chalicelib.settings import get_settings, reset_settings

        name = os.environ.get("WEBHOOK_QUEUE_NAME", "voice-dev-webhooks")
        sqs = boto3.client("sqs", region_name=get_settings().region)
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        stack.set_env(WEBHOOK_QUEUE_URL=url, WEBHOOK_QUEUE_NAME=name)
        reset_settings()
        thread = threading.Thread(target=_poll_queue, args=(sqs, url, name, stack.stop_event),
                                  name="webhook-queue", daemon=True)
        thread.start()
        stack.values["webhook_queue_thread"] = thread
        print(f"Webhook queue:     {url}", flush=True)

    def stop(stack: Stack) -> None:
        thread = stack.values.pop("webhook_queue_thread", None)
        if thread is not None:
            thread.join(5)

    return Component("webhook-queue", start, stop)


def _poll_queue(sqs: Any, url: str, name: str, stop: threading.Event) -> None:
    """Deliver queue messages to the Chalice handler the way the SQS event source would."""
    from chalice.local import LambdaContext

    from chalicelib.webhooks.handlers import webhook_retry

    log = logging.getLogger("devstack.webhooks")
    arn = f"arn:aws:sqs:us-east-1:123456789012:{name}"
    while not stop.is_set():
        try:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            if not got:
                continue
            records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                        "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs",
                        "eventSourceARN": arn, "awsRegion": "us-east-1"} for m in got]
            webhook_retry({"Records": records}, LambdaContext("webhook_retry", 256, max_runtime_ms=60_000))
            for m in got:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        except Exception:  # noqa: BLE001 - a dev poller keeps polling; the message becomes visible again
            log.exception("webhook queue poll failed")
            stop.wait(1)


REAPER_INTERVAL_SECONDS = 15.0


def call_reaper_component(interval: float = REAPER_INTERVAL_SECONDS) -> Component:
    """The scheduled ``call_reaper`` Lambda of AWS (every minute there) as a thread: every ``interval``
    seconds (``DEV_REAPER_SECONDS``) it ends in-progress calls whose media task stopped heartbeating for
    35 s (``DEV_REAPER_STALE_SECONDS``; tests shorten both)."""

    def loop(stop: threading.Event, every: float) -> None:
        from chalicelib.services.call_reaper import reap_stale_calls

        log = logging.getLogger("devstack.reaper")
        stale = float(os.environ["DEV_REAPER_STALE_SECONDS"]) if os.environ.get("DEV_REAPER_STALE_SECONDS") else None
        while not stop.wait(every):
            try:
                reap_stale_calls(stale)
            except Exception:  # noqa: BLE001 - a dev poller keeps polling
                log.exception("call reaper run failed")

    def start(stack: Stack) -> None:
        every = float(os.environ.get("DEV_REAPER_SECONDS") or interval)
        thread = threading.Thread(target=loop, args=(stack.stop_event, every), name="call-reaper", daemon=True)
        thread.start()
        stack.values["call_reaper_thread"] = thread
        print(f"Call reaper:       every {every:g} s", flush=True)

    def stop(stack: Stack) -> None:
        thread = stack.values.pop("call_reaper_thread", None)
        if thread is not None:
            thread.join(5)

    return Component("call-reaper", start, stop)


def install() -> None:
    """Register every stand-in around the built-in components (moto, tables, api, demo-org)."""
    register_component(webhook_queue_component(), after="moto")
    register_component(recordings_component(), after="webhook-queue")
    register_component(workflows_component(), after="tables")
    register_component(_workflow_env_component(), after="workflows")
    register_component(fake_twilio_component(), before="api")
    register_component(sandbox_component(), after="demo-org")
    register_component(media_component(), after="sandbox")
    register_component(call_reaper_component(), after="media")
