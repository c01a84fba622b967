"""`make dev-aws` gives each media task the environment the synthesized task definition gives the container.

Every variable of the container is either set by ``devstack.deploy_shape.media_task_env`` (with the same
value where it comes from the stage config) or named in the runner's lists of what the dev stack provides
instead; and the runner sets nothing the stack does not, apart from the ECS agent's metadata URI and the
bind address.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.infra

# Values that come from the stage config alone: the runner must give the template's value.
CONFIG_DERIVED = ("STAGE", "TABLE_PREFIX", "WEBHOOK_QUEUE_NAME", "CAMPAIGN_DISPATCH_SECONDS", "CAMPAIGN_DIAL_THREADS",
                  "POWERTOOLS_SERVICE_NAME", "MEDIA_CONTROL_URL", "MEDIA_PORT", "MEDIA_CONTROL_PORT", "MEDIA_MAX_CALLS",
                  "ACTIVE_CALLS_METRIC_NAMESPACE", "ACTIVE_CALLS_METRIC_NAME", "ACTIVE_CALLS_METRIC_SERVICE")


def _container_env(synth) -> dict[str, object]:
    (task,) = synth.resources("AWS::ECS::TaskDefinition").values()
    container = task["Properties"]["ContainerDefinitions"][0]
    env: dict[str, object] = {e["Name"]: e["Value"] for e in container.get("Environment", [])}
    env.update({e["Name"]: e["ValueFrom"] for e in container.get("Secrets", [])})
    return env


def _local_env(synth) -> dict[str, str]:
    from devstack.deploy_shape import media_task_env, plan_topology

    topo = plan_topology(synth.config, 2, free_ports=False, lb_port=8080)
    return media_task_env(topo, topo.tasks[1], "http://127.0.0.1:9/v4/task-2")


def test_every_container_variable_is_set_by_the_runner_or_the_dev_stack(synth):
    from devstack import deploy_shape as shape

    local = _local_env(synth)
    missing = sorted(
        name for name in _container_env(synth)
        if name not in local and name not in shape.FROM_DEV_STACK and name not in shape.LOCAL_EQUIVALENT
        and not name.startswith(tuple(shape.LOCAL_EQUIVALENT_PREFIXES))
        and not name.endswith(tuple(shape.LOCAL_EQUIVALENT_SUFFIXES)))
    assert missing == []
    # The lists name only what the stack really sets (no stale entries).
    assert set(shape.FROM_DEV_STACK) <= set(_container_env(synth))


def test_the_runner_sets_nothing_the_stack_does_not(synth):
    from devstack.deploy_shape import NOT_FROM_THE_STACK

    assert sorted(set(_local_env(synth)) - set(_container_env(synth))) == sorted(NOT_FROM_THE_STACK)


def test_config_derived_values_match_the_template(synth):
    template, local = _container_env(synth), _local_env(synth)
    assert {k: str(template[k]) for k in CONFIG_DERIVED} == {k: local[k] for k in CONFIG_DERIVED}
    # Same stream path behind the balancer; the host is the ALB's (wss with the certificate) vs HAProxy's.
    assert str(template["MEDIA_WS_URL"]).endswith(synth.config.media_stream_path)
    assert local["MEDIA_WS_URL"] == local["MEDIA_PUBLIC_WS_URL"] == f"ws://127.0.0.1:8080{synth.config.media_stream_path}"
    # Cloud Map: the control URL names the discovery name the tasks register, resolved locally to every task.
    assert local["MEDIA_CONTROL_URL"] == synth.config.media_control_url
