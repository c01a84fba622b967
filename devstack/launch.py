"""Start `make dev`'s stack as a subprocess on free ports with its own state (tests and benchmarks)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Settings a developer's shell may carry that would point the stack at real services or fixed ports.
_INHERITED = ("DEV_MOTO_PORT", "PUBLIC_BASE_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_URL",
              "MEDIA_WS_URL", "MEDIA_CONTROL_URL", "DEEPGRAM_API_KEY", "OPENAI_API_KEY", "ELEVENLABS_API_KEY",
              "XAI_API_KEY", "DEEPGRAM_URL", "OPENAI_BASE_URL", "ELEVENLABS_URL", "XAI_URL", "SANDBOX_CONTROL_URL",
              "SANDBOX_REGISTRY_URLS", "MEDIA_DISCOVERY_HOSTS", "CALL_TOKEN_SECRET", "MEDIA_CONTROL_SECRET",
              "DEV_AWS_CONFIG", "DEV_AWS_TASKS", "DEV_AWS_LB_PORT", "DEV_AWS_TASK_PORTS")


def isolated_env(state_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TABLE_")) and k not in _INHERITED}
    env.update(DEV_STATE_DIR=str(state_dir), MOTO_PORT="0", API_PORT="0", MEDIA_PORT="0", MEDIA_CONTROL_PORT="0",
               FAKE_TWILIO_PORT="0", SANDBOX_PORT_BASE="0", PYTHONUNBUFFERED="1", **extra)
    return env


def start(state_dir: Path, log: Path, module: str = "devstack", **extra: str) -> subprocess.Popen:
    """``python -m <module>`` (``devstack``: make dev; ``devstack.deploy_shape``: make dev-aws)."""
    (state_dir / "dev.env").unlink(missing_ok=True)
    out = open(log, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([sys.executable, "-m", module], cwd=ROOT, env=isolated_env(state_dir, **extra),  # noqa: S603 - this interpreter and a module of this repo
                            stdout=out, stderr=subprocess.STDOUT)


def wait_ready(state_dir: Path, proc: subprocess.Popen, log: Path, timeout: float = 90) -> dict[str, str]:
    """The stack's dev.env (BASE_URL, API_KEY, ...) once written; RuntimeError with the log otherwise."""
    path = state_dir / "dev.env"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("dev stack exited:\n" + log.read_text()[-4000:])
        if path.exists():
            lines = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
            if "API_KEY" in lines:
                return lines
        time.sleep(0.2)
    raise RuntimeError("dev.env not written:\n" + log.read_text()[-4000:])


def stop(proc: subprocess.Popen, timeout: float = 60) -> None:
    """SIGTERM (the stack drains and snapshots), then kill if it has not exited within ``timeout``."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
