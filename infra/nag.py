"""The infrastructure review: cdk-nag's AwsSolutions rules on the synthesized app, and the findings we accept.

``check(app)`` adds the rules (``make synth`` fails on an unsuppressed error; so does
``tests/infra/test_nag.py``). What was reasonable to fix is fixed in the stack (S3 access logs, VPC flow
log, Container Insights, state machine logging, API access logs); each suppression below says in one line why
the finding stays. The Chalice functions and their REST API come from an included SAM template (``AWS::Serverless::*``),
which the AwsSolutions rules do not inspect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, NagPackSuppression, NagSuppressions, RegexAppliesTo

if TYPE_CHECKING:
    from infra.stacks.platform import PlatformStack

RULES = "AwsSolutions-"


def check(app: cdk.App) -> None:
    """Run the AwsSolutions rules on every stack of the app when it is synthesized."""
    cdk.Aspects.of(app).add(AwsSolutionsChecks(reports=False))


def nag_errors(assembly: cdk.cx_api.CloudAssembly) -> list[str]:
    """Unsuppressed AwsSolutions errors of a synthesized assembly, as ``<path>: <message>`` lines."""
    out = []
    for stack in assembly.stacks:
        for message in stack.messages:
            text = str(message.entry.data)
            if message.level == cdk.cx_api.SynthesisMessageLevel.ERROR and text.startswith(RULES):
                out.append(f"{message.id}: {text.splitlines()[0]}")
    return out


def _why(rule: str, reason: str, *applies_to: str | RegexAppliesTo) -> NagPackSuppression:
    return NagPackSuppression(id=RULES + rule, reason=reason, applies_to=list(applies_to) or None)


def _regex(pattern: str) -> RegexAppliesTo:
    return RegexAppliesTo(regex=pattern)


def suppress(stack: PlatformStack) -> None:
    """The accepted findings, each on the constructs it concerns."""
    scoped_wildcards = [
        _why("IAM5", "DynamoDB queries name an index ARN: <table>/index/* of this stack's own tables",
             _regex(r"/^Resource::<Tables.+\.Arn>\/index\/\*$/g")),
        _why("IAM5", "execution ARNs are created per run; the name part pins this stage's state machines",
             _regex(r"/^Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
                    + stack.config.prefix + r".+:\*$/g")),
        _why("IAM5", "one object per call under recordings/ of this stack's bucket",
             _regex(r"/^Resource::<Recordings.+\.Arn>\/recordings\/\*$/g")),
    ]
    NagSuppressions.add_resource_suppressions(stack.lambda_role, scoped_wildcards, apply_to_children=True)
    NagSuppressions.add_resource_suppressions(stack.lambda_role, [
        _why("IAM4", "AWS's own minimal policies for VPC ENIs and X-Ray segments (ENI actions take no ARN)",
             _regex(r"/^Policy::arn:<AWS::Partition>:iam::aws:policy\/(service-role\/AWSLambdaVPCAccessExecutionRole"
                    r"|AWSXRayDaemonWriteAccess)$/g")),
    ])
    NagSuppressions.add_resource_suppressions(stack.api.cloudwatch_role, [
        _why("IAM4", "AWS's policy for API Gateway's account-wide log role (log groups are named per API at runtime)",
             _regex(r"/^Policy::arn:<AWS::Partition>:iam::aws:policy\/service-role\/"
                    r"AmazonAPIGatewayPushToCloudWatchLogs$/g")),
    ])
    NagSuppressions.add_resource_suppressions(stack.media.task_role, [
        *scoped_wildcards,
        _why("IAM5", "cloudwatch:PutMetricData has no resource type; a condition pins the ActiveCalls namespace",
             "Resource::*"),
    ], apply_to_children=True)
    task = stack.media.task_definition
    if task.execution_role is not None:
        NagSuppressions.add_resource_suppressions(task.execution_role, [
            _why("IAM5", "ecr:GetAuthorizationToken has no resource type (CDK's image pull grant)", "Resource::*"),
        ], apply_to_children=True)
    NagSuppressions.add_resource_suppressions(task, [
        _why("ECS2", "plain settings only (names, ports, URLs, ARNs); secrets come through the Secrets field"),
    ])
    NagSuppressions.add_resource_suppressions(stack.media.load_balancer, [
        _why("EC23", "Twilio Media Streams connect from the internet (no fixed source ranges); 443 and the 80->443 "
                     "redirect only"),
        _why("ELB2", "access logs need the stack's region at synth (it is environment-agnostic); target health and "
                     "5xx alarms cover the media socket"),
    ], apply_to_children=True)
    for machine in stack.workflows.machines.values():
        NagSuppressions.add_resource_suppressions(machine, [
            _why("IAM5", "log delivery and X-Ray actions have no resource type (CDK's grants for logs and tracing)",
                 "Resource::*"),
            _why("IAM5", "invoking a task Lambda names its versions and aliases too (<function ARN>:*)",
                 _regex(r"/^Resource::<[A-Za-z0-9]+\.Arn>:\*$/g")),
        ], apply_to_children=True)
    for key, secret in stack.secrets.items():
        reason = {
            "platform_keys": "provider API keys are issued by each provider; rotate them there and update the secret",
            "twilio": "Twilio auth tokens rotate in Twilio's console (primary/secondary), then in the secret",
        }.get(key, "an HMAC key: rotating it would invalidate live calls' tokens; rotate during a quiet window")
        NagSuppressions.add_resource_suppressions(secret, [_why("SMG4", reason)])
    NagSuppressions.add_resource_suppressions(stack.access_logs, [
        _why("S1", "the server access log bucket itself: logging it into itself would loop"),
    ])
