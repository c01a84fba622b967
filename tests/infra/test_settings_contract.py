"""Every environment the stack builds, as synthesized, against the settings models of the process that reads it.

Each Lambda function (the Chalice app: API, workflow tasks, queue consumer, scheduled reaper) runs
``chalicelib.settings.Settings``; the media container runs that and ``media.settings.MediaSettings``. A
variable the stack sets that no model (nor one of the few named readers below) declares fails, and so does a
field marked ``deployed()`` that the stack leaves unset.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest
from pydantic import AliasChoices, BaseModel

pytestmark = pytest.mark.infra


def _read_elsewhere() -> dict[str, str]:
    """Variables read by code other than the settings models, and who reads them."""
    from chalicelib.secrets import SECRET_ARN_VARIABLES
    from chalicelib.settings import PLATFORM_KEY_ENV, TABLE_NAMES

    out = {f"TABLE_{name.upper()}": "chalicelib.settings.table_name" for name in TABLE_NAMES}
    out["TABLE_PREFIX"] = "chalicelib.settings.table_name"
    out.update({name: "chalicelib.secrets / chalicelib.services.byok" for name in SECRET_ARN_VARIABLES})
    out.update({name: "chalicelib.services.byok.platform_key" for name in PLATFORM_KEY_ENV.values()})
    out["WEBHOOK_QUEUE_NAME"] = "chalicelib.webhooks.handlers (the SQS consumer's queue, read at import)"
    out["POWERTOOLS_SERVICE_NAME"] = "chalicelib.observability"
    return out


def variable_names(model: type[BaseModel], field: str) -> list[str]:
    """The environment variables a pydantic-settings field reads (its name, or its validation aliases)."""
    alias = model.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice).upper() for choice in alias.choices]
    if isinstance(alias, str):
        return [alias.upper()]
    return [field.upper()]


def contract_problems(env: Mapping[str, Any], models: Iterable[type[BaseModel]]) -> list[str]:
    """What is wrong with one process's environment against its settings models (empty: nothing)."""
    from chalicelib.secrets import SECRET_ARN_VARIABLES
    from chalicelib.settings import deployed_fields

    models = list(models)
    declared = {name for model in models for field in model.model_fields for name in variable_names(model, field)}
    elsewhere = _read_elsewhere()
    problems = [f"{name} is set but no settings model declares it"
                for name in sorted(env) if name not in declared and name not in elsewhere]
    # A secret named by ARN supplies its variables (chalicelib.secrets.deployment_secrets).
    supplied = set(env) | {v for arn, variables in SECRET_ARN_VARIABLES.items() if arn in env for v in variables}
    for model in models:
        for field in deployed_fields(model):
            if not supplied & set(variable_names(model, field)):
                problems.append(f"{model.__name__}.{field} must be set in a deployment "
                                f"({' or '.join(variable_names(model, field))})")
    return problems


def _function_envs(synth) -> dict[str, dict[str, Any]]:
    out = {}
    for type_ in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
        for lid, res in synth.resources(type_).items():
            out[lid] = res["Properties"].get("Environment", {}).get("Variables", {})
    return out


def _media_env(synth) -> dict[str, object]:
    tasks = synth.resources("AWS::ECS::TaskDefinition")
    assert len(tasks) == 1, list(tasks)
    container = next(iter(tasks.values()))["Properties"]["ContainerDefinitions"][0]
    names = {e["Name"]: e["Value"] for e in container.get("Environment", [])}
    names.update({e["Name"]: e["ValueFrom"] for e in container.get("Secrets", [])})
    return names


def test_every_lambda_function_environment_matches_the_control_plane_settings(synth):
    from chalicelib.settings import Settings

    envs = _function_envs(synth)
    assert len(envs) >= 20, sorted(envs)  # the API handler, every workflow task, the queue consumer, the reaper
    problems = {lid: p for lid, env in envs.items() if (p := contract_problems(env, [Settings]))}
    assert problems == {}


def test_all_chalice_functions_share_one_environment(synth):
    # One model serves the API and the workflow tasks because the stack gives them one environment; a
    # function with its own variables needs its own settings model (and this test changed with it).
    envs = _function_envs(synth)
    shapes = {frozenset(env) for env in envs.values()}
    assert len(shapes) == 1, {lid: sorted(env) for lid, env in envs.items()}


def test_media_container_environment_matches_both_settings_models(synth):
    from chalicelib.settings import Settings
    from media.settings import MediaSettings

    assert contract_problems(_media_env(synth), [Settings, MediaSettings]) == []


def test_the_check_fails_on_an_undeclared_variable_and_on_a_missing_deployed_field():
    from chalicelib.settings import Settings, deployed_fields
    from media.settings import MediaSettings

    complete = {name.upper(): "x" for model in (Settings, MediaSettings) for name in deployed_fields(model)}
    assert contract_problems(complete, [Settings, MediaSettings]) == []
    assert contract_problems({**complete, "MEDIA_SPECULATE_QUIET_MS": "120"}, [Settings, MediaSettings]) == [
        "MEDIA_SPECULATE_QUIET_MS is set but no settings model declares it"]
    del complete["MEDIA_PUBLIC_WS_URL"]
    assert contract_problems(complete, [Settings, MediaSettings]) == [
        "MediaSettings.media_public_ws_url must be set in a deployment (MEDIA_PUBLIC_WS_URL)"]
    # A secret's ARN stands in for the variables it supplies; the media-only fields are not the Lambdas' concern.
    lambda_env = {name.upper(): "x" for name in deployed_fields(Settings)}
    for name in ("CALL_TOKEN_SECRET", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        del lambda_env[name]
    assert contract_problems({**lambda_env, "CALL_TOKEN_SECRET_ARN": "arn", "TWILIO_SECRET_ARN": "arn"},
                             [Settings]) == []
    assert contract_problems(lambda_env, [Settings]) == [
        f"Settings.{f} must be set in a deployment ({f.upper()})"
        for f in ("call_token_secret", "twilio_account_sid", "twilio_auth_token")]


def test_media_container_sets_what_a_production_start_needs(synth):
    env = _media_env(synth)
    # Twilio credentials reach the task (as secrets), so the public stream URL must be set: the media
    # service would refuse to start without it.
    assert {"TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"} <= set(env)
    assert env["MEDIA_PUBLIC_WS_URL"] == env["MEDIA_WS_URL"]
    assert str(env["MEDIA_PUBLIC_WS_URL"]).startswith("wss://media.example.com/")
    assert int(str(env["MEDIA_CONTROL_PORT"])) != int(str(env["MEDIA_PORT"]))


def test_capacity_and_cpu_agree(synth):
    from media.settings import DEFAULT_MAX_CALLS

    env = _media_env(synth)
    tasks = synth.resources("AWS::ECS::TaskDefinition")
    cpu = next(iter(tasks.values()))["Properties"]["Cpu"]
    # One Python process serves one core: 1-vCPU tasks, capacity = the bench's calls per core.
    assert (str(cpu), env["MEDIA_MAX_CALLS"]) == ("1024", str(DEFAULT_MAX_CALLS))
