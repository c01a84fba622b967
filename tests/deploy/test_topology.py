"""The deploy shape's pieces without starting it: the Cloud Map stand-in through the API's own discovery
code, and the generated HAProxy configuration as HAProxy itself reads it."""

from __future__ import annotations

import subprocess

import pytest


def _topology(tasks: int = 2):
    from devstack.deploy_shape import plan_topology
    from infra.config import load_config

    return plan_topology(load_config("dev"), tasks, free_ports=False, lb_port=8080)


@pytest.mark.unit
def test_the_cloud_map_name_resolves_to_every_task_on_the_control_port(monkeypatch):
    from chalicelib.services.media_discovery import media_tasks
    from chalicelib.settings import reset_settings
    from devstack.deploy_shape import control_plane_env

    topo = _topology(3)
    for name, value in control_plane_env(topo).items():
        monkeypatch.setenv(name, value)
    reset_settings()
    try:
        found = media_tasks("3f1c1d7e-5a7b-4c1e-9d1a-2b7c9e0f4a11")
    finally:
        monkeypatch.undo()
        reset_settings()
    assert topo.control_url == "http://media.dev.voice.internal:8766"
    assert sorted(t.base_url for t in found) == ["http://127.0.0.2:8766", "http://127.0.0.3:8766",
                                                 "http://127.0.0.4:8766"]
    assert {t.host_header for t in found} == {"media.dev.voice.internal:8766"}


@pytest.mark.unit
def test_tasks_share_the_stack_ports_on_their_own_addresses():
    topo = _topology()
    assert [(t.ip, t.port, t.control_port) for t in topo.tasks] == [("127.0.0.2", 8765, 8766),
                                                                    ("127.0.0.3", 8765, 8766)]
    assert topo.lb_ws_url == "ws://127.0.0.1:8080/twilio/stream"


@pytest.mark.integration  # runs Debian's haproxy (scripts/bootstrap.sh installs it)
def test_haproxy_accepts_the_generated_listener(tmp_path):
    from devstack.deploy_shape import haproxy_binary, haproxy_config

    cfg = tmp_path / "haproxy.cfg"
    text = haproxy_config(_topology(), tmp_path / "haproxy.sock")
    cfg.write_text(text)
    check = subprocess.run([haproxy_binary(), "-c", "-f", str(cfg)], capture_output=True, text=True, check=False)  # noqa: S603 - Debian's haproxy on our generated file
    assert check.returncode == 0, check.stdout + check.stderr
    # The ALB listener's rules: the stream path and below, browser calls and listeners; health on /readyz.
    assert "acl stream path /twilio/stream || path_beg /twilio/stream/" in text
    assert "acl browser path_beg /web/ /monitor/" in text
    assert "option httpchk GET /readyz" in text
    assert "server task-1 127.0.0.2:8765 check" in text and "server task-2 127.0.0.3:8765 check" in text
