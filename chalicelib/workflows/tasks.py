"""Step Functions task functions (Chalice lambda_functions) of the workflows.

Each handler validates its event into a typed model, calls one service function and returns the
dumped result model. The ASL files name them as ``${FunctionArn_<name>}``; infra substitutes the
deployed functions and ``devstack/sfn.py`` routes moto's Lambda to these same handlers.
Exceptions propagate: their class name is the error name the state machine's Retry/Catch match.
"""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint

from chalicelib.models.campaigns import CampaignFailure, RunState, TickResult
from chalicelib.models.evals import RunFailure, RunItem, RunRef, ScenarioState
from chalicelib.workflows.events import AnalysisInput, StepFailure, StoreInput

bp = Blueprint(__name__)


def _analysis():
    from chalicelib.services import analysis

    return analysis


def _campaigns():
    from chalicelib.services import campaigns

    return campaigns


def _evals():
    from chalicelib.services import evals

    return evals


# ---------------------------------------------------------------- call analysis
@bp.lambda_function(name="analysis_load")
def analysis_load(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _analysis().load(AnalysisInput.model_validate(event)).model_dump(mode="json")


@bp.lambda_function(name="analysis_summarize")
def analysis_summarize(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _analysis().summarize(AnalysisInput.model_validate(event)).model_dump(mode="json")


@bp.lambda_function(name="analysis_structured")
def analysis_structured(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _analysis().extract_structured(AnalysisInput.model_validate(event)).model_dump(mode="json")


@bp.lambda_function(name="analysis_store")
def analysis_store(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _analysis().store(StoreInput.model_validate(event)).model_dump(mode="json")


@bp.lambda_function(name="analysis_deliver")
def analysis_deliver(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _analysis().deliver_report(AnalysisInput.model_validate(event)).model_dump(mode="json")


@bp.lambda_function(name="analysis_notify")
def analysis_notify(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _analysis().notify(AnalysisInput.model_validate(event)).model_dump(mode="json")


@bp.lambda_function(name="analysis_usage")
def analysis_usage(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _analysis().record_usage(AnalysisInput.model_validate(event)).model_dump(mode="json")


@bp.lambda_function(name="analysis_cleanup")
def analysis_cleanup(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _analysis().gdpr_cleanup(AnalysisInput.model_validate(event)).model_dump(mode="json")


@bp.lambda_function(name="analysis_failure")
def analysis_failure(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _analysis().record_failure(StepFailure.model_validate(event)).model_dump(mode="json")


# ---------------------------------------------------------------- campaign run
@bp.lambda_function(name="campaign_tick")
def campaign_tick(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _campaigns().run_tick(RunState.model_validate(event)).model_dump(mode="json")


@bp.lambda_function(name="campaign_dispatch")
def campaign_dispatch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _campaigns().run_dispatch(TickResult.model_validate(event)).model_dump(mode="json")


@bp.lambda_function(name="campaign_continue")
def campaign_continue(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _campaigns().run_continue(TickResult.model_validate(event)).model_dump(mode="json")


@bp.lambda_function(name="campaign_failure")
def campaign_failure(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _campaigns().run_failed(CampaignFailure.model_validate(event)).model_dump(mode="json")


# ---------------------------------------------------------------- eval run (test suites)
@bp.lambda_function(name="eval_prepare")
def eval_prepare(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _evals().run_prepare(RunRef.model_validate(event)).model_dump(mode="json")


@bp.lambda_function(name="eval_scenario_start")
def eval_scenario_start(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _evals().scenario_start(RunItem.model_validate(event)).model_dump(mode="json")


@bp.lambda_function(name="eval_scenario_poll")
def eval_scenario_poll(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _evals().scenario_poll(ScenarioState.model_validate(event)).model_dump(mode="json")


@bp.lambda_function(name="eval_finish")
def eval_finish(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _evals().run_finish(RunRef.model_validate(event)).model_dump(mode="json")


@bp.lambda_function(name="eval_failure")
def eval_failure(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _evals().run_failed(RunFailure.model_validate(event)).model_dump(mode="json")
