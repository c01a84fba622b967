"""The full local platform for `make dev`: the built-in stack plus the stand-ins around it.

Order matters: the webhook queue needs moto; the workflows need the tables; the fake Twilio must
set its credentials before the API reads its settings; the sandbox providers make the fake Twilio
answer with simulated callers; the media service starts last and inherits every URL and key.
"""

from __future__ import annotations

import os
import socket
import sys

from devstack.run import Component, Stack, process_component, register_component


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _workflow_env_component() -> Component:
    """Expose the state machine ARNs the workflows component created to the in-process API."""

    def start(stack: Stack) -> None:
        from chalicelib.settings import reset_settings

        for key in ("CALL_ANALYSIS_STATE_MACHINE_ARN", "CAMPAIGN_STATE_MACHINE_ARN"):
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
    """The media service as a subprocess (`python -m media.server`) on MEDIA_PORT (0 = a free port)."""
    requested = int(os.environ.get("MEDIA_PORT", "8765"))
    port = requested or _free_port()
    inner = process_component("media", [sys.executable, "-m", "media.server"],
                              ready_url=f"http://127.0.0.1:{port}/healthz", timeout=60,
                              env={"MEDIA_PORT": str(port), "MEDIA_HOST": "127.0.0.1"})

    def start(stack: Stack) -> None:
        from chalicelib.settings import reset_settings

        ws_url = f"ws://127.0.0.1:{port}/twilio/stream"
        stack.set_env(MEDIA_WS_URL=ws_url, MEDIA_CONTROL_URL=f"http://127.0.0.1:{port}",
                      MEDIA_PUBLIC_WS_URL=ws_url)
        reset_settings()
        inner.start(stack)
        stack.dev_env["MEDIA_WS_URL"] = ws_url
        print(f"Media service:     {ws_url}  (healthz http://127.0.0.1:{port}/healthz)", flush=True)

    return Component("media", start, inner.stop)


def install() -> None:
    """Register every stand-in around the built-in components (moto, tables, api, demo-org)."""
    from devstack.sfn import workflows_component
    from sandbox.run import sandbox_component
    from sandbox.twilio import fake_twilio_component
    from sandbox.webhook_receiver import webhook_queue_component

    register_component(webhook_queue_component(), after="moto")
    register_component(recordings_component(), after="webhook-queue")
    register_component(workflows_component(), after="tables")
    register_component(_workflow_env_component(), after="workflows")
    register_component(fake_twilio_component(), before="api")
    register_component(sandbox_component(), after="demo-org")
    register_component(media_component(), after="sandbox")
