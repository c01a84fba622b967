"""The media container's environment as synthesized against the settings models that read it.

A variable the stack sets that no model declares, or a field the production start needs that the stack
leaves unset, fails here.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.infra

# Read by code other than the two settings models: the table names (``chalicelib.settings.table_name``),
# secrets by ARN (``chalicelib.secrets``), boto3's own region variable, aws-lambda-powertools' own
# variables (``chalicelib.observability``).
_READ_ELSEWHERE_PREFIXES = ("TABLE_", "POWERTOOLS_")
_READ_ELSEWHERE_SUFFIXES = ("_SECRET_ARN",)
_READ_ELSEWHERE = {"TABLE_PREFIX", "AWS_REGION", "AWS_DEFAULT_REGION"}


def _declared() -> set[str]:
    from chalicelib.settings import PLATFORM_KEY_ENV, Settings
    from media.settings import MediaSettings

    # chalicelib's Settings reads each field from its upper-case name (``get_settings``), except region.
    names = {name.upper() for name in Settings.model_fields} | {name.upper() for name in MediaSettings.model_fields}
    return names | set(PLATFORM_KEY_ENV.values()) | {"WEBHOOK_QUEUE_NAME"}


def _media_env(synth) -> dict[str, object]:
    tasks = synth.resources("AWS::ECS::TaskDefinition")
    assert len(tasks) == 1, list(tasks)
    container = next(iter(tasks.values()))["Properties"]["ContainerDefinitions"][0]
    names = {e["Name"]: e["Value"] for e in container.get("Environment", [])}
    names.update({e["Name"]: e["ValueFrom"] for e in container.get("Secrets", [])})
    return names


def test_every_media_container_variable_is_declared_by_a_settings_model(synth):
    declared = _declared()
    undeclared = sorted(
        name for name in _media_env(synth)
        if name not in declared and name not in _READ_ELSEWHERE
        and not name.startswith(_READ_ELSEWHERE_PREFIXES) and not name.endswith(_READ_ELSEWHERE_SUFFIXES))
    assert undeclared == []


def test_media_container_sets_what_a_production_start_needs(synth):
    env = _media_env(synth)
    # Twilio credentials reach the task (as secrets), so the public stream URL must be set: the media
    # service would refuse to start without it.
    for name in ("MEDIA_PORT", "MEDIA_CONTROL_PORT", "MEDIA_PUBLIC_WS_URL", "ACTIVE_CALLS_METRIC_NAMESPACE",
                 "ACTIVE_CALLS_METRIC_NAME", "ACTIVE_CALLS_METRIC_SERVICE"):
        assert name in env, name
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
