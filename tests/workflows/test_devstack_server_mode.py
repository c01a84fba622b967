"""`make dev` wiring: the ASL files in a ThreadedMotoServer (server mode, MOTO_PORT) with Lambda
routed to the real handlers, in a fresh process (so no in-process mock or cached client leaks in)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, os, sys, time
os.environ.update({"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1",
                   "AWS_REGION": "us-east-1", "TABLE_PREFIX": "srv-", "POWERTOOLS_TRACE_DISABLED": "true"})
os.environ.pop("AWS_SESSION_TOKEN", None)
from moto.server import ThreadedMotoServer
from devstack import sfn
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
port = server.get_host_and_port()[1]
url = f"http://127.0.0.1:{port}"
os.environ["AWS_ENDPOINT_URL"] = url
sfn.enable_server_mode(port)
from chalicelib.storage.tables import create_tables
create_tables()
machines = sfn.setup_dev(url, port)
from chalicelib.services.orgs import create_org
from chalicelib.storage.calls import Call, CallRepository
from chalicelib.timeutil import new_id, now_iso
from chalicelib.workflows.start import start_call_analysis
org, _ = create_org("Dev", None, minutes_balance=10)
now = now_iso()
call = CallRepository().create(Call(org.id, new_id(), "ended", "inbound", now, now, data={
    "config": {"name": "A", "analysis_plan": {"min_messages_threshold": 5}}, "messages": [],
    "duration_seconds": 90, "end_reason": "customer_hangup"}))
arn = start_call_analysis(org.id, call.id)
import boto3
client = boto3.client("stepfunctions", region_name="us-east-1", endpoint_url=url)
for _ in range(300):
    d = client.describe_execution(executionArn=arn)
    if d["status"] != "RUNNING":
        break
    time.sleep(0.1)
row = CallRepository().get(org.id, call.id)
from chalicelib.storage.orgs import OrgRepository
print(json.dumps({"status": d["status"], "machines": sorted(machines), "usage_id": row.data.get("usage_id"),
                  "skipped": row.data.get("analysis_skipped"), "balance": OrgRepository().get(org.id).minutes_balance}))
server.stop()
"""


def test_analysis_runs_in_server_mode_with_real_handlers():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["status"] == "SUCCEEDED", proc.stderr[-3000:]
    assert out["machines"] == ["call_analysis", "campaign_run", "eval_run"]
    assert out["usage_id"] and out["skipped"].startswith("below min_messages_threshold")
    assert out["balance"] == 8  # 90 s -> 2 minutes
