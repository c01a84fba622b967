"""Fixtures of the console's browser tests: the whole dev stack, a built console, Debian's Chromium."""

from __future__ import annotations

import os
import shutil
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


SPOKEN = "I would like to book a cleaning next week please."


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory) -> Path:
    """The fake microphone's input: 6 s of quiet, SPOKEN, 6 s of quiet; a 16 kHz mono 16-bit PCM WAV.

    The speech is the simulated callers' (espeak-ng, pauses between words capped, so the sandbox STT hears
    one utterance). Chromium plays the file in a loop: the leading quiet lets the greeting play out, the
    trailing one ends the caller's turn and leaves the agent room to answer. "Quiet" is a faint seeded noise
    floor, like a real microphone's: on digital silence Chromium's noise suppression and auto gain (which
    the page asks for) start from nothing and chop the first words into pieces.
    """
    import wave

    import numpy as np

    from sandbox.audio import speak_pcm

    rate = 16_000
    speech = np.frombuffer(speak_pcm(SPOKEN, rate), dtype=np.int16)
    samples = np.concatenate([np.zeros(6 * rate), speech, np.zeros(6 * rate)])
    samples += np.random.default_rng(7).normal(0, 20, len(samples))
    path = tmp_path_factory.mktemp("mic") / "caller.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.clip(samples, -32768, 32767).astype("<i2").tobytes())
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
        launch.stop(proc)


@pytest.fixture(scope="module")
def browser(speech_wav):
    if not Path(CHROMIUM).exists() or shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.fail(f"{CHROMIUM}, espeak-ng or sox missing: scripts/bootstrap.sh installs them")
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
