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


RESTART_BACKOFF_SECONDS = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
HEALTHY_RUN_SECONDS = 60.0  # a process that ran this long restarts from the first backoff step again


def process_component(name: str, argv: list[str], *, ready_url: str | None = None, timeout: float = 30.0,
                      env: dict[str, str] | None = None, restart: bool = False) -> Component:
    """A component that runs a subprocess (inheriting the stack's environment) and terminates it on stop.

    With ``restart`` a process that exits on its own is started again after a backoff (1, 2, 4 ... 30 s),
    as ECS replaces a stopped task; ``stack.values[f"{name}_restarts"]`` counts the restarts.
    """
    procs: dict[str, subprocess.Popen] = {}
    stopping = threading.Event()

    def launch(stack: Stack) -> subprocess.Popen:
        proc = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **(env or {})}, preexec_fn=_die_with_parent)  # noqa: S603 - argv comes from the component's definition in this repo
        procs["p"] = proc
        stack.values[f"{name}_process"] = proc
        return proc

    def supervise(stack: Stack) -> None:
        step = 0
        while not stopping.is_set():
            proc = procs["p"]
            started = time.monotonic()
            code = proc.wait()
            if stopping.is_set() or stack.stop_event.is_set():
                return
            if time.monotonic() - started >= HEALTHY_RUN_SECONDS:
                step = 0
            delay = RESTART_BACKOFF_SECONDS[min(step, len(RESTART_BACKOFF_SECONDS) - 1)]
            step += 1
            print(f"{name}: exited with {code}; restarting in {delay:g} s", flush=True)
            if stopping.wait(delay) or stack.stop_event.is_set():
                return
            launch(stack)
            stack.values[f"{name}_restarts"] = stack.values.get(f"{name}_restarts", 0) + 1

    def start(stack: Stack) -> None:
        stopping.clear()
        proc = launch(stack)
        if ready_url:
            wait_http(ready_url, timeout, proc)
        if restart:
            threading.Thread(target=supervise, args=(stack,), name=f"{name}-supervisor", daemon=True).start()

    def stop(stack: Stack) -> None:
        stopping.set()
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
