"""Starting workflow executions (Step Functions StartExecution).

Owned by the workflows feature; the calls feature, the media service and the campaigns API call
these. Execution names are derived from the resource (and, for campaigns, the run generation and
segment), so a duplicate start is rejected by Step Functions (ExecutionAlreadyExists) and each
workflow runs once.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from typing import Any

from chalicelib import aws
from chalicelib.settings import get_settings

log = logging.getLogger("voice.workflows")


@lru_cache(maxsize=1)
def sfn_client() -> Any:
    """The Step Functions client (built on first use)."""
    return aws.client("stepfunctions", region=get_settings().region)


def _start(arn: str, name: str, payload: dict[str, Any]) -> str | None:
    client = sfn_client()
    try:
        out = client.start_execution(stateMachineArn=arn, name=name, input=json.dumps(payload))
    except client.exceptions.ExecutionAlreadyExists:
        return None
    return out["executionArn"]


def start_call_analysis(org_id: str, call_id: str) -> str | None:
    """Start the call-analysis execution for an ended call. Returns the execution ARN.

    The execution name is derived from the call id, so a second start for the same call is
    rejected by Step Functions (ExecutionAlreadyExists) and the analysis runs once.
    """
    arn = get_settings().call_analysis_state_machine_arn
    if not arn:
        log.warning("CALL_ANALYSIS_STATE_MACHINE_ARN not set; analysis not started for call %s", call_id)
        return None
    return _start(arn, f"call-{call_id}", {"org_id": org_id, "call_id": call_id})


def campaign_execution_name(campaign_id: str, generation: int, segment: int = 0) -> str:
    return f"campaign-{campaign_id}-g{generation}-s{segment}"


def start_campaign_run(org_id: str, campaign_id: str, generation: int, *, segment: int = 0,
                       dials_at_start: int = 0) -> str | None:
    """Start (or continue, with ``segment`` > 0) the campaign-run execution of one generation.

    One name per (campaign, generation, segment): a start repeated by a retried request or task
    is rejected by Step Functions, so one execution dials per generation.
    """
    arn = get_settings().campaign_state_machine_arn
    if not arn:
        log.warning("CAMPAIGN_STATE_MACHINE_ARN not set; campaign %s not started", campaign_id)
        return None
    payload = {"org_id": org_id, "campaign_id": campaign_id, "generation": generation, "segment": segment,
               "ticks": 0, "dials_at_start": dials_at_start}
    return _start(arn, campaign_execution_name(campaign_id, generation, segment), payload)


def start_eval_run(org_id: str, run_id: str) -> str | None:
    """Start the eval-run execution of a test run (named after the run: it runs once)."""
    arn = get_settings().eval_state_machine_arn
    if not arn:
        log.warning("EVAL_STATE_MACHINE_ARN not set; test run %s not started", run_id)
        return None
    return _start(arn, f"eval-{run_id}", {"org_id": org_id, "run_id": run_id})
