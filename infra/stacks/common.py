"""Small helpers shared by the stack's constructs."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import StageConfig


def log_group_for(scope: Construct, id: str, name: str, config: StageConfig) -> logs.LogGroup:
    """A log group with the stage's retention; logs go with the stack unless the stage retains data."""
    group = logs.LogGroup(scope, id, log_group_name=name,
                          removal_policy=cdk.RemovalPolicy.RETAIN if config.retain_data else cdk.RemovalPolicy.DESTROY)
    # RetentionDays is an enum of names; the config holds the number CloudFormation takes.
    child = group.node.default_child
    if not isinstance(child, cdk.CfnResource):
        raise TypeError(f"{id}: the log group has no CloudFormation resource to override")
    child.add_property_override("RetentionInDays", config.log_retention_days)
    return group
