"""The state machines, loaded from the repo's ASL files with CloudFormation definition substitutions.

The ASL files name their task Lambdas as ``${FunctionArn_<name>}`` where ``<name>`` is the
``@lambda_function(name=...)`` of the Chalice app; this module maps each placeholder to that function's
ARN from the Chalice construct. The state machines get fixed names, so the Lambdas can receive their
ARNs as environment variables without a dependency cycle (the machines depend on the functions).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import StageConfig
from infra.stacks.common import log_group_for

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
FUNCTION_PREFIX = "FunctionArn_"
TABLE_PREFIX = "TableName_"
STATE_MACHINE_PREFIX = "StateMachineArn_"
QUEUE_URL = "WebhookQueueUrl"

# File name (without .asl.json) -> the key the other placeholders and env vars use.
MACHINES = ("call_analysis", "campaign_run", "eval_run")


class AslError(ValueError):
    """An ASL file is missing or names something this deployment does not have."""


def function_logical_id(name: str) -> str:
    """The logical id ``chalice package`` gives the function of ``@lambda_function(name=name)``."""
    from chalice.utils import to_cfn_resource_name

    return to_cfn_resource_name(name)


def asl_path(config: StageConfig, machine: str) -> Path:
    return Path(config.asl_dir) / f"{machine}.asl.json"


def placeholders(text: str) -> list[str]:
    return sorted(set(PLACEHOLDER.findall(text)))


def _tasks(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("Type") == "Task":
            yield node
        for value in node.values():
            yield from _tasks(value)
    elif isinstance(node, list):
        for value in node:
            yield from _tasks(value)


@dataclass(frozen=True)
class Integrations:
    """The service integrations an ASL file uses: what its role needs."""

    lambda_invoke: bool = False
    start_execution: bool = False
    start_execution_sync: bool = False
    dynamodb: bool = False
    sqs: bool = False


def integrations(definition: dict[str, Any], path: Path) -> Integrations:
    found: dict[str, bool] = {}
    for task in _tasks(definition):
        resource = str(task.get("Resource", ""))
        if resource.startswith("${" + FUNCTION_PREFIX) or resource.startswith("arn:aws:states:::lambda:invoke"):
            found["lambda_invoke"] = True
        elif resource.startswith("arn:aws:states:::states:startExecution"):
            found["start_execution"] = True
            if ".sync" in resource:
                found["start_execution_sync"] = True
        elif resource.startswith("arn:aws:states:::dynamodb:"):
            found["dynamodb"] = True
        elif resource.startswith("arn:aws:states:::sqs:sendMessage"):
            found["sqs"] = True
        else:
            raise AslError(f"{path}: task resource {resource!r} is not an integration this stack grants "
                           "(lambda:invoke, states:startExecution, dynamodb:*, sqs:sendMessage)")
    return Integrations(**found)


def read_asl(path: Path) -> tuple[str, dict[str, Any]]:
    if not path.is_file():
        raise AslError(f"ASL file {path} is missing: the workflows code ships it (or point asl_dir elsewhere)")
    text = path.read_text()
    try:
        return text, json.loads(text)
    except json.JSONDecodeError as exc:
        raise AslError(f"{path} is not valid JSON: {exc}") from exc


class StateMachines(Construct):
    """call-analysis, campaign-run and eval-run, each with its own role granted exactly what its tasks use."""

    def __init__(self, scope: Construct, id: str, *, config: StageConfig,
                 function_arn: Callable[[str], str | None], function_arns: list[str],
                 values: dict[str, str], table_arns: list[str], queue_arn: str) -> None:
        """``function_arn(logical_id)`` resolves a Chalice function (None: no such function);
        ``values`` holds the other substitutions (TableName_*, StateMachineArn_*, WebhookQueueUrl)."""
        super().__init__(scope, id)
        stack = cdk.Stack.of(self)
        self.machines: dict[str, sfn.StateMachine] = {}
        self.substitutions: dict[str, dict[str, str]] = {}
        names = {"call_analysis": config.call_analysis_state_machine_name,
                 "campaign_run": config.campaign_state_machine_name,
                 "eval_run": config.eval_state_machine_name}
        self.arns = {key: stack.format_arn(service="states", resource="stateMachine", resource_name=name,
                                           arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)
                     for key, name in names.items()}
        for machine in MACHINES:
            path = asl_path(config, machine)
            text, definition = read_asl(path)
            subs: dict[str, str] = {}
            invoked: list[str] = []
            for key in placeholders(text):
                if key.startswith(FUNCTION_PREFIX):
                    name = key[len(FUNCTION_PREFIX):]
                    arn = function_arn(function_logical_id(name))
                    if arn is None:
                        raise AslError(f"{path}: ${{{key}}} names no Chalice @lambda_function(name={name!r})")
                    subs[key] = arn
                    invoked.append(arn)
                elif key in values:
                    subs[key] = values[key]
                else:
                    raise AslError(f"{path}: unknown placeholder ${{{key}}}; known: {FUNCTION_PREFIX}<function>, "
                                   f"{', '.join(sorted(values))}")
            used = integrations(definition, path)
            log_group = log_group_for(self, f"{machine}-logs", f"/aws/vendedlogs/states/{names[machine]}", config)
            machine_construct = sfn.StateMachine(
                self, machine.replace("_", "-"),
                state_machine_name=names[machine],
                definition_body=sfn.DefinitionBody.from_file(str(path)),
                definition_substitutions=subs or None,
                tracing_enabled=True,
                # Every state transition, without inputs and outputs (transcripts and numbers stay out of logs).
                logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
            )
            policy: list[iam.PolicyStatement] = []
            if used.lambda_invoke or invoked:
                targets = invoked or function_arns
                policy.append(iam.PolicyStatement(
                    actions=["lambda:InvokeFunction"], resources=targets + [f"{arn}:*" for arn in targets]))
            if used.start_execution:
                policy.append(iam.PolicyStatement(actions=["states:StartExecution"],
                                                  resources=list(self.arns.values())))
            if used.start_execution_sync:
                executions = [stack.format_arn(service="states", resource="execution", resource_name=f"{n}:*",
                                               arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME) for n in names.values()]
                policy.append(iam.PolicyStatement(actions=["states:DescribeExecution", "states:StopExecution"],
                                                  resources=executions))
                policy.append(iam.PolicyStatement(
                    actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                    resources=[stack.format_arn(service="events", resource="rule",
                                                resource_name="StepFunctionsGetEventsForStepFunctionsExecutionRule")]))
            if used.dynamodb:
                policy.append(iam.PolicyStatement(
                    actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                             "dynamodb:Query"],
                    resources=table_arns + [f"{arn}/index/*" for arn in table_arns]))
            if used.sqs:
                policy.append(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[queue_arn]))
            for statement in policy:
                machine_construct.add_to_role_policy(statement)
            self.machines[machine] = machine_construct
            self.substitutions[machine] = subs

