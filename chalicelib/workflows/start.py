"""Starting workflow executions (Step Functions StartExecution).

Owned by the workflows feature; the calls feature and the media service call these.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache

from chalicelib.settings import get_settings

log = logging.getLogger("voice.workflows")


@lru_cache(maxsize=1)
def _sfn():
    import boto3

    return boto3.client("stepfunctions", region_name=get_settings().region)


def start_call_analysis(org_id: str, call_id: str) -> str | None:
    """Start the call-analysis execution for an ended call. Returns the execution ARN.

    The execution name is derived from the call id, so a second start for the same call is
    rejected by Step Functions (ExecutionAlreadyExists) and the analysis runs once.
    """
    arn = get_settings().call_analysis_state_machine_arn
    if not arn:
        log.warning("CALL_ANALYSIS_STATE_MACHINE_ARN not set; analysis not started for call %s", call_id)
        return None
    client = _sfn()
    try:
        out = client.start_execution(stateMachineArn=arn, name=f"call-{call_id}",
                                     input=json.dumps({"org_id": org_id, "call_id": call_id}))
    except client.exceptions.ExecutionAlreadyExists:
        return None
    return out["executionArn"]
