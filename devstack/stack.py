"""The pieces a dev stack is made of: the shared ``Stack``, a ``Component``, and subprocess helpers.

The lowest devstack module: ``devstack.run`` (the runner and its built-in components), ``devstack.sfn``
and ``devstack.platform`` (the stand-ins around the built-ins) all build on it, so none of them needs
another for these types.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Stack:
    """What components share: the state dir, values they publish, and the lines of dev.env."""

    state_dir: Path
    values: dict[str, Any] = field(default_factory=dict)
    dev_env: dict[str, str] = field(default_factory=dict)
    stop_event: threading.Event = field(default_factory=threading.Event)

    def set_env(self, **env: str) -> None:
        """Environment for the app (this process and the subprocesses components start)."""
        os.environ.update(env)


@dataclass
class Component:
    name: str
    start: Callable[[Stack], None]
    stop: Callable[[Stack], None] | None = None


def process_component(name: str, argv: list[str], *, ready_url: str | None = None, timeout: float = 30.0,
                      env: dict[str, str] | None = None) -> Component:
    """A component that runs a subprocess (inheriting the stack's environment) and terminates it on stop."""
    procs: dict[str, subprocess.Popen] = {}

    def start(stack: Stack) -> None:
        proc = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **(env or {})}, preexec_fn=_die_with_parent)  # noqa: S603 - argv comes from the component's definition in this repo
        procs["p"] = proc
        stack.values[f"{name}_process"] = proc
        if ready_url:
            wait_http(ready_url, timeout, proc)

    def stop(stack: Stack) -> None:
        proc = procs.pop("p", None)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    return Component(name, start, stop)


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the dev stack dies, even by SIGKILL (Linux; elsewhere a no-op).

    Components are started from the main thread, which lives as long as the stack: the kernel sends the
    signal when the forking thread exits.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - local URL
                if resp.status < 500:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")
