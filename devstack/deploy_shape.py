"""`make dev-aws`: the deploy-shaped local run, the wiring ``infra/stacks/media.py`` describes, on this machine.

``make dev`` runs one media process that the API reaches directly. The stack does more, and this run does
what it does, with every name, port and size read from the stack's own ``StageConfig`` (``infra/config.py``,
stage ``dev``; ``DEV_AWS_CONFIG`` takes the same overrides as CDK context, e.g. ``{"media_max_calls": 2}``):

- **Tasks.** ``DEV_AWS_TASKS`` (default 2, the prod ``media_min_tasks``) media processes, each with its own
  address, as awsvpc gives each Fargate task its own IP: task N binds ``127.0.0.<N+1>`` (the whole of
  127.0.0.0/8 is loopback on Linux), on ``media_port`` (Twilio stream, browser calls, ``/healthz``,
  ``/readyz``) and ``media_control_port`` (prepare and commands only), with the container environment the
  stack sets (``MEDIA_PORT``, ``MEDIA_CONTROL_PORT``, ``MEDIA_MAX_CALLS``, ``ACTIVE_CALLS_METRIC_*``,
  ``MEDIA_WS_URL`` = ``MEDIA_PUBLIC_WS_URL``, ``MEDIA_CONTROL_URL``) and none it does not set (no
  ``MEDIA_CONTROL_ADVERTISE_URL``). Each is restarted when it exits, as ECS replaces a task.
- **Task metadata.** Each task gets ``ECS_CONTAINER_METADATA_URI_V4`` pointing at its own stand-in of the
  ECS agent's endpoint (``/task`` names the task's IPv4), so a task finds the control address it records
  on its calls the way it does on Fargate.
- **Load balancer.** HAProxy (Debian's) in front of the tasks with the ALB listener's rules: the stream path
  (``media_stream_path`` and below), ``/web/*`` and ``/monitor/*`` go to the tasks, round robin, WebSocket
  idle timeout = the ALB's 120 s; anything else is the listener's fixed 404. Its health check is
  ``GET /readyz`` (the ALB's is ``/healthz``, see docs/deploy.md): a full or draining task drops out.
- **Cloud Map.** The API (the Lambdas' code, in process) gets ``MEDIA_CONTROL_URL`` =
  ``http://media.<namespace>:<media_control_port>`` as the stack sets it, and ``MEDIA_DISCOVERY_HOSTS``
  stands in for the namespace's DNS: the name resolves to every task's address (one A record per task).
- Everything else is ``make dev``'s stack (moto, tables, the Chalice API, fake Twilio, sandbox providers,
  webhook queue, workflows, reaper), with ``TABLE_PREFIX``, ``STAGE`` and ``WEBHOOK_QUEUE_NAME`` from the
  config. Secrets are generated per run and given to both sides as the ECS secrets are (values, not ARNs).

Ports: ``DEV_AWS_LB_PORT`` (default 8080; 0 = free) for the balancer; ``DEV_AWS_TASK_PORTS=free`` gives
the tasks free ports instead of the config's (tests; several runs on one machine).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devstack.stack import Component, Stack, process_component, wait_http

if TYPE_CHECKING:
    from infra.config import StageConfig

TASK_NET = "127.0.0."
FIRST_TASK_HOST = 2  # 127.0.0.1 is the API, the fakes and the balancer
DEFAULT_LB_PORT = 8080
# The balancer's health check. Faster than the ALB's (15 s interval, 2 healthy / 3 unhealthy) so a local
# run reacts within a second; the rules it applies are the same.
CHECK_INTERVAL_MS = 500
# ALB idle_timeout (infra/stacks/media.py): an idle WebSocket is cut after this.
IDLE_TIMEOUT_S = 120


@dataclass(frozen=True)
class MediaTask:
    """One media task: its address (the awsvpc IP), its ports, and its metadata endpoint."""

    name: str
    ip: str
    port: int
    control_port: int

    @property
    def control_url(self) -> str:
        return f"http://{self.ip}:{self.control_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.ip}:{self.port}"


@dataclass(frozen=True)
class Topology:
    """The deploy shape: the stage's config, the tasks, and the balancer in front of them."""

    config: StageConfig
    tasks: tuple[MediaTask, ...]
    lb_port: int

    @property
    def lb_ws_url(self) -> str:
        """What the stack's MEDIA_WS_URL is (the ALB's ws:// URL without a certificate)."""
        return f"ws://127.0.0.1:{self.lb_port}{self.config.media_stream_path}"

    @property
    def discovery_name(self) -> str:
        return f"media.{self.config.service_discovery_namespace}"

    @property
    def control_url(self) -> str:
        """The stack's MEDIA_CONTROL_URL (Cloud Map name, control port) with this run's control port."""
        return f"http://{self.discovery_name}:{self.tasks[0].control_port}"

    @property
    def discovery_hosts(self) -> str:
        """MEDIA_DISCOVERY_HOSTS: the Cloud Map name's A records, one per task."""
        return f"{self.discovery_name}={','.join(t.ip for t in self.tasks)}"


def load_stage_config() -> StageConfig:
    """Stage dev with the CDK-context-style overrides in DEV_AWS_CONFIG (a JSON object)."""
    from infra.config import load_config

    overrides = json.loads(os.environ.get("DEV_AWS_CONFIG") or "{}")
    return load_config("dev", overrides)


def _bindable(ip: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((ip, port))
        except OSError:
            return False
    return True


def _free_port(ips: list[str]) -> int:
    """A port free on every address (each task binds the same port on its own address, as on ECS)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if all(_bindable(ip, port) for ip in ips):
            return port
    raise RuntimeError(f"no port free on all of {ips}")


def plan_topology(config: StageConfig, tasks: int, *, free_ports: bool, lb_port: int) -> Topology:
    ips = [f"{TASK_NET}{FIRST_TASK_HOST + i}" for i in range(tasks)]
    if free_ports:
        port = _free_port(ips)
        control = _free_port(ips)
        while control == port:
            control = _free_port(ips)
    else:
        port, control = config.media_port, config.media_control_port
    return Topology(config=config, lb_port=lb_port or _free_port(["127.0.0.1"]),
                    tasks=tuple(MediaTask(f"task-{i + 1}", ip, port, control) for i, ip in enumerate(ips)))


def topology_from_env() -> Topology:
    return plan_topology(load_stage_config(), int(os.environ.get("DEV_AWS_TASKS") or 2),
                         free_ports=os.environ.get("DEV_AWS_TASK_PORTS") == "free",
                         lb_port=int(os.environ.get("DEV_AWS_LB_PORT") or DEFAULT_LB_PORT))


# ---------------------------------------------------------------- environments (what the stack sets)
# What the stack sets on the media container that this run does not set in ``media_task_env``, and where
# the tasks get it instead (tests/infra/test_deploy_shape_env.py holds the two lists to the template).
FROM_DEV_STACK = {
    "WEBHOOK_QUEUE_URL": "webhook-queue component (the queue in moto)",
    "CALL_ANALYSIS_STATE_MACHINE_ARN": "workflows component (state machines in moto)",
    "CAMPAIGN_STATE_MACHINE_ARN": "workflows component",
    "EVAL_STATE_MACHINE_ARN": "workflows component",
    "RECORDINGS_BUCKET": "recordings component (the bucket in moto)",
    "PUBLIC_BASE_URL": "api component (the local API's address)",
    "TWILIO_ACCOUNT_SID": "fake-twilio component (an ECS secret on AWS)",
    "TWILIO_AUTH_TOKEN": "fake-twilio component (an ECS secret on AWS)",
    "CALL_TOKEN_SECRET": "media_fleet_component, generated per run (an ECS secret on AWS)",
    "MEDIA_CONTROL_SECRET": "media_fleet_component, generated per run (an ECS secret on AWS)",
}
# Set on AWS, with a local equivalent that needs no variable.
LOCAL_EQUIVALENT_PREFIXES = {
    "TABLE_": "per-table names: the prefix rule (TABLE_PREFIX) gives the same names",
}
LOCAL_EQUIVALENT_SUFFIXES = {
    "_SECRET_ARN": "secrets by ARN: the values are given directly (FROM_DEV_STACK)",
}
LOCAL_EQUIVALENT = {
    "KMS_KEY_ID": "envelope encryption with the local key (docs/resources.md)",
}
# Set here and not by the stack: the ECS agent's variable, and the bind address (the Dockerfile's).
NOT_FROM_THE_STACK = {"ECS_CONTAINER_METADATA_URI_V4", "MEDIA_HOST"}


def control_plane_env(topo: Topology) -> dict[str, str]:
    """What the Lambdas get from the stack about the media service, plus the Cloud Map stand-in."""
    return {"MEDIA_CONTROL_URL": topo.control_url, "MEDIA_WS_URL": topo.lb_ws_url,
            "MEDIA_DISCOVERY_HOSTS": topo.discovery_hosts}


def media_task_env(topo: Topology, task: MediaTask, metadata_uri: str) -> dict[str, str]:
    """The media container's environment as ``MediaService`` sets it, for this task's address and ports.

    ``tests/deploy/test_env_matches_template.py`` compares the names (and the config-derived values) with
    the synthesized task definition. ``MEDIA_HOST`` is the Dockerfile's (0.0.0.0 there: the task's one
    interface; here the task's own address), the metadata URI is what the ECS agent injects.
    """
    from infra.config import ACTIVE_CALLS_METRIC, ACTIVE_CALLS_NAMESPACE

    config = topo.config
    return {
        "STAGE": config.stage,
        "TABLE_PREFIX": config.prefix,
        "WEBHOOK_QUEUE_NAME": config.webhook_queue_name,
        "CAMPAIGN_DISPATCH_SECONDS": str(config.campaign_dispatch_seconds),
        "CAMPAIGN_DIAL_THREADS": str(config.campaign_dial_threads),
        "POWERTOOLS_SERVICE_NAME": "voice-media",
        "MEDIA_CONTROL_URL": topo.control_url,
        "MEDIA_PORT": str(task.port),
        "MEDIA_CONTROL_PORT": str(task.control_port),
        "MEDIA_MAX_CALLS": str(config.media_max_calls),
        "ACTIVE_CALLS_METRIC_NAMESPACE": ACTIVE_CALLS_NAMESPACE,
        "ACTIVE_CALLS_METRIC_NAME": ACTIVE_CALLS_METRIC,
        "ACTIVE_CALLS_METRIC_SERVICE": config.media_service_name,
        "MEDIA_WS_URL": topo.lb_ws_url,
        "MEDIA_PUBLIC_WS_URL": topo.lb_ws_url,
        "MEDIA_HOST": task.ip,
        "ECS_CONTAINER_METADATA_URI_V4": metadata_uri,
    }


def haproxy_config(topo: Topology, stats_socket: Path) -> str:
    """The ALB listener's rules and target group, in HAProxy's words."""
    stream = topo.config.media_stream_path
    servers = "\n".join(f"    server {t.name} {t.ip}:{t.port} check" for t in topo.tasks)
    return f"""# Generated by devstack/deploy_shape.py from infra/config.py (stage {topo.config.stage}).
global
    maxconn 4000
    stats socket {stats_socket} mode 600 level admin

defaults
    mode http
    timeout connect 5s
    timeout client {IDLE_TIMEOUT_S}s
    timeout server {IDLE_TIMEOUT_S}s
    timeout tunnel {IDLE_TIMEOUT_S}s

frontend media_listener
    bind 127.0.0.1:{topo.lb_port}
    # Listener rules: priority 10 the stream path, 20 browser calls and listeners; default a fixed 404.
    acl stream path {stream} || path_beg {stream}/
    acl browser path_beg /web/ /monitor/
    http-request return status 404 content-type application/json string '{{"error":"not_found"}}' if !stream !browser
    default_backend media_tasks

backend media_tasks
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter {CHECK_INTERVAL_MS}ms fall 1 rise 1
{servers}
"""


# ---------------------------------------------------------------- components
class _MetadataServer(ThreadingHTTPServer):
    task_ip = "127.0.0.1"


class _MetadataHandler(BaseHTTPRequestHandler):
    """``GET <uri>/task``: the task metadata v4 fields the media service reads (awsvpc: one IPv4)."""

    server: _MetadataServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's hook name
        if not self.path.endswith("/task"):
            self.send_error(404)
            return
        body = json.dumps({"Containers": [{"Name": "media", "Networks": [
            {"NetworkMode": "awsvpc", "IPv4Addresses": [self.server.task_ip]}]}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        pass


def media_fleet_component(topo: Topology) -> Component:
    """Per task: its metadata endpoint, then ``python -m media.server`` with the stack's environment."""
    restart = os.environ.get("DEV_MEDIA_RESTART", "1") != "0"
    servers: list[_MetadataServer] = []
    procs: list[Component] = []

    def start(stack: Stack) -> None:
        from chalicelib.settings import reset_settings

        # The tasks and the API share the two secrets ECS injects from Secrets Manager.
        stack.set_env(CALL_TOKEN_SECRET=os.environ.get("CALL_TOKEN_SECRET") or secrets.token_hex(24),
                      MEDIA_CONTROL_SECRET=os.environ.get("MEDIA_CONTROL_SECRET") or secrets.token_hex(24),
                      **control_plane_env(topo))
        reset_settings()
        for task in topo.tasks:
            meta = _MetadataServer(("127.0.0.1", 0), _MetadataHandler)
            meta.task_ip = task.ip
            threading.Thread(target=meta.serve_forever, name=f"ecs-metadata-{task.name}", daemon=True).start()
            servers.append(meta)
            uri = f"http://127.0.0.1:{meta.server_address[1]}/v4/{task.name}"
            # No ready_url: launched here, waited for below, so the tasks import Pipecat side by side.
            proc = process_component(f"media-{task.name}", [sys.executable, "-m", "media.server"],
                                     env=media_task_env(topo, task, uri), restart=restart)
            procs.append(proc)
            # From the main thread: a child is signalled when the thread that forked it exits.
            proc.start(stack)
        for task in topo.tasks:
            wait_http(f"{task.http_url}/healthz", 90, stack.values[f"media-{task.name}_process"])
        stack.values["topology"] = topo
        for task in topo.tasks:
            print(f"Media {task.name}:      {task.http_url} (stream), control {task.control_url}", flush=True)

    def stop(stack: Stack) -> None:
        for proc in reversed(procs):
            if proc.stop is not None:
                proc.stop(stack)
        procs.clear()
        for meta in servers:
            meta.shutdown()
            meta.server_close()
        servers.clear()

    return Component("media-fleet", start, stop)


def load_balancer_component(topo: Topology) -> Component:
    """HAProxy with the listener's rules in front of the tasks; ready once every task is UP in it."""
    inner: dict[str, Component] = {}

    def start(stack: Stack) -> None:
        haproxy = haproxy_binary()
        cfg = stack.state_dir / "haproxy.cfg"
        sock = stack.state_dir / "haproxy.sock"
        sock.unlink(missing_ok=True)
        cfg.write_text(haproxy_config(topo, sock))
        check = subprocess.run([haproxy, "-c", "-q", "-f", str(cfg)], capture_output=True, text=True, check=False)  # noqa: S603 - our generated config
        if check.returncode != 0:
            raise RuntimeError(f"haproxy rejected {cfg}: {check.stdout}{check.stderr}")
        # Ready when every task is UP in its health check (the listener answers 404 before that).
        proc = process_component("load-balancer", [haproxy, "-db", "-f", str(cfg)], restart=True)
        inner["p"] = proc
        proc.start(stack)
        stack.values["haproxy_socket"] = sock
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if stack.values["load-balancer_process"].poll() is not None:
                raise RuntimeError("haproxy exited (see its output above)")
            states = server_states(sock)
            if states and all(v == "UP" for v in states.values()):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"load balancer: tasks not healthy: {server_states(sock)}")
        stack.dev_env["MEDIA_WS_URL"] = topo.lb_ws_url
        stack.dev_env["HAPROXY_SOCKET"] = str(sock)
        stack.dev_env["MEDIA_TASKS"] = ",".join(t.control_url for t in topo.tasks)
        stack.dev_env["MEDIA_TASK_STREAMS"] = ",".join(t.http_url for t in topo.tasks)
        print(f"Load balancer:     {topo.lb_ws_url}  (HAProxy, {len(topo.tasks)} tasks, check GET /readyz)",
              flush=True)
        print(f"Cloud Map:         {topo.control_url} -> {', '.join(t.ip for t in topo.tasks)}", flush=True)

    def stop(stack: Stack) -> None:
        proc = inner.pop("p", None)
        if proc is not None and proc.stop is not None:
            proc.stop(stack)

    return Component("load-balancer", start, stop)


def haproxy_binary() -> str:
    """HAPROXY, else haproxy on PATH, else Debian's /usr/sbin/haproxy (not on a non-root user's PATH)."""
    import shutil

    return os.environ.get("HAPROXY") or shutil.which("haproxy") or "/usr/sbin/haproxy"


def server_states(sock: Path) -> dict[str, str]:
    """HAProxy's view of the tasks: server name -> UP / DOWN / ... (``show stat`` on the stats socket)."""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(str(sock))
            s.sendall(b"show stat\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
    except OSError:
        return {}
    lines = b"".join(chunks).decode().splitlines()
    if not lines or not lines[0].startswith("# "):
        return {}
    header = lines[0][2:].split(",")
    out: dict[str, str] = {}
    for line in lines[1:]:
        row = dict(zip(header, line.split(","), strict=False))
        if row.get("pxname") == "media_tasks" and row.get("svname") not in ("FRONTEND", "BACKEND"):
            out[row["svname"]] = row.get("status", "").split(" ")[0]
    return out


def install(topo: Topology) -> None:
    """`make dev`'s stand-ins with the single media process replaced by the deploy shape."""
    from devstack import platform
    from devstack.run import COMPONENTS, register_component

    platform.install()
    COMPONENTS[:] = [c for c in COMPONENTS if c.name != "media"]
    register_component(media_fleet_component(topo), after="sandbox")
    register_component(load_balancer_component(topo), after="media-fleet")


def main() -> int:
    from devstack import run

    topo = topology_from_env()
    config = topo.config
    # The stack's names for what make dev's components create (tables, queue) and read (stage).
    os.environ.update(STAGE=config.stage, TABLE_PREFIX=config.prefix, WEBHOOK_QUEUE_NAME=config.webhook_queue_name)
    os.environ.setdefault("DEV_STATE_DIR", str(run.ROOT / ".local" / "dev-aws"))
    install(topo)
    return run.run()


if __name__ == "__main__":
    sys.exit(main())
