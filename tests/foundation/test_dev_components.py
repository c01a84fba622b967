"""The dev stack's component machinery: ordering, reverse-order stop, a failed start stops the rest."""

from __future__ import annotations

import os
import signal

import pytest

from devstack import run as devrun


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    env = dict(os.environ)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield tmp_path
    os.environ.clear()
    os.environ.update(env)
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


def test_builtins_in_order_and_register_component(monkeypatch):
    assert [c.name for c in devrun.COMPONENTS][:4] == ["moto", "tables", "api", "demo-org"]
    monkeypatch.setattr(devrun, "COMPONENTS", list(devrun.COMPONENTS))
    devrun.register_component(devrun.Component("fake-twilio", lambda s: None), after="api")
    devrun.register_component(devrun.Component("media", lambda s: None))
    devrun.register_component(devrun.Component("sandbox", lambda s: None), before="api")
    assert [c.name for c in devrun.COMPONENTS] == ["moto", "tables", "sandbox", "api", "fake-twilio", "demo-org",
                                                    "media"]
    replacement = devrun.Component("media", lambda s: None)
    devrun.register_component(replacement)
    assert devrun.COMPONENTS[-1] is replacement and len(devrun.COMPONENTS) == 7


def test_run_stops_in_reverse_order_and_writes_dev_env(monkeypatch, isolated):
    events = []

    def comp(name, *, last=False):
        def start(stack):
            events.append(f"start {name}")
            stack.dev_env[f"{name.upper()}_URL"] = f"http://{name}"
            if last:
                stack.dev_env.update(BASE_URL="http://127.0.0.1:1/api/v1", API_KEY="k")
                stack.stop_event.set()  # as Ctrl-C would, once everything runs
        return devrun.Component(name, start, lambda stack: events.append(f"stop {name}"))

    monkeypatch.setattr(devrun, "COMPONENTS", [comp("a"), devrun.Component("b", lambda s: events.append("start b")),
                                               comp("c", last=True)])
    assert devrun.run(isolated) == 0
    assert events == ["start a", "start b", "start c", "stop c", "stop a"]
    lines = (isolated / "dev.env").read_text().splitlines()
    assert lines[:2] == ["BASE_URL=http://127.0.0.1:1/api/v1", "API_KEY=k"]
    assert "A_URL=http://a" in lines and os.environ["AWS_ACCESS_KEY_ID"] == "local"


def test_failed_start_stops_what_started(monkeypatch, isolated):
    events = []

    def boom(stack):
        raise RuntimeError("port in use")

    monkeypatch.setattr(devrun, "COMPONENTS", [
        devrun.Component("a", lambda s: events.append("start a"), lambda s: events.append("stop a")),
        devrun.Component("b", boom, lambda s: events.append("stop b")),
        devrun.Component("c", lambda s: events.append("start c"), lambda s: events.append("stop c")),
    ])
    assert devrun.run(isolated) == 1
    assert events == ["start a", "stop a"]
    assert not (isolated / "dev.env").exists()


def test_process_component_starts_and_terminates(tmp_path):
    import sys

    comp = devrun.process_component("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
    stack = devrun.Stack(state_dir=tmp_path)
    comp.start(stack)
    proc = stack.values["sleeper_process"]
    assert proc.poll() is None
    assert comp.stop is not None
    comp.stop(stack)
    assert proc.poll() is not None  # terminated and reaped, not left behind


def test_process_component_child_dies_with_a_killed_stack(tmp_path):
    """SIGKILL of the dev stack (no chance to stop components) still ends its subprocesses."""
    import subprocess
    import sys
    import time

    pidfile = tmp_path / "child.pid"
    parent = subprocess.Popen([sys.executable, "-c", f"""
import sys, time
from pathlib import Path
from devstack import run
comp = run.process_component("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
stack = run.Stack(state_dir=Path({str(tmp_path)!r}))
comp.start(stack)
Path({str(pidfile)!r}).write_text(str(stack.values["sleeper_process"].pid))
time.sleep(60)
"""], cwd=devrun.ROOT)
    try:
        deadline = time.monotonic() + 30
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int(pidfile.read_text())
        os.kill(child, 0)  # alive
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(child):
            time.sleep(0.05)
        assert not _alive(child), "the component's process outlived the killed stack"
    finally:
        if parent.poll() is None:
            parent.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"  # a zombie awaiting its reaper is dead
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def test_a_restarting_process_component_comes_back_after_a_crash_but_not_after_stop(tmp_path, monkeypatch):
    """`make dev` restarts a media service that exits, as ECS would (with backoff)."""
    import sys
    import time

    from devstack import stack as devstack_stack

    monkeypatch.setattr(devstack_stack, "RESTART_BACKOFF_SECONDS", (0.2, 0.4))
    comp = devrun.process_component("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], restart=True)
    stack = devrun.Stack(state_dir=tmp_path)
    comp.start(stack)
    first = stack.values["sleeper_process"]
    try:
        first.send_signal(signal.SIGKILL)  # a crash: no chance to clean up
        deadline = time.monotonic() + 10
        while stack.values["sleeper_process"] is first and time.monotonic() < deadline:
            time.sleep(0.05)
        second = stack.values["sleeper_process"]
        assert second is not first and second.poll() is None
        assert stack.values["sleeper_restarts"] == 1
    finally:
        assert comp.stop is not None
        comp.stop(stack)
    time.sleep(0.6)  # longer than the backoff: a stopped component stays stopped
    assert stack.values["sleeper_process"] is second and second.poll() is not None
    assert stack.values["sleeper_restarts"] == 1
