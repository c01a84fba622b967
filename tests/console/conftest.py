"""Fixtures of the console's browser tests: the whole dev stack, a built console, Debian's Chromium."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Screenshots of every page, kept after the run (CONSOLE_ARTIFACTS, default .local/artifacts/console)."""
    path = Path(os.environ.get("CONSOLE_ARTIFACTS", ROOT / ".local" / "artifacts" / "console"))
    path.mkdir(parents=True, exist_ok=True)
    print(f"\nconsole screenshots: {path}")
    return path


@pytest.fixture(scope="session")
def console_built() -> None:
    # Skips the work when the build is current (scripts/build_console.sh keeps a stamp).
    subprocess.run(["bash", "scripts/build_console.sh"], cwd=ROOT, check=True, timeout=600)


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory) -> Path:
    """The fake microphone's input: a spoken sentence from espeak-ng, 16 kHz mono WAV."""
    path = tmp_path_factory.mktemp("mic") / "caller.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path),
                    "Hello, I would like to book a cleaning next week please."], check=True, timeout=60)
    return path


@pytest.fixture(scope="module")
def devstack(tmp_path_factory, console_built):
    """`make dev`'s stack on free ports with its own state dir; its dev.env as a dict (plus STATE_DIR)."""
    from devstack import launch

    state = tmp_path_factory.mktemp("devstack")
    log = state / "dev.log"
    proc = launch.start(state, log)
    try:
        env = launch.wait_ready(state, proc, log, timeout=120)
        yield {**env, "STATE_DIR": str(state)}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser(speech_wav):
    if not Path(CHROMIUM).exists() or shutil.which("espeak-ng") is None:
        pytest.fail(f"{CHROMIUM} or espeak-ng missing: scripts/bootstrap.sh installs them")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={speech_wav}", "--autoplay-policy=no-user-gesture-required",
            "--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser, devstack):
    context = browser.new_context(viewport={"width": 1440, "height": 960}, permissions=["microphone"])
    p = context.new_page()
    p.set_default_timeout(20_000)
    yield p
    context.close()


def simulate(devstack: dict[str, str], assistant_id: str, lines: list[str], timeout: float = 180) -> dict:
    """media.simulate against the stack: a simulated caller speaks `lines`; its JSON result."""
    import json

    from devstack import launch

    out = subprocess.run([sys.executable, "-m", "media.simulate", "--assistant-id", assistant_id, "--json",
                          *[arg for line in lines for arg in ("--say", line)]],
                         cwd=ROOT, env=launch.isolated_env(Path(devstack["STATE_DIR"])), capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout)
