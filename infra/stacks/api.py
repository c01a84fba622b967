"""The Chalice app (REST API, Twilio callbacks, workflow tasks, queue consumer) through chalice.cdk.

Chalice packages the repo root (``chalice package``, which runs pip against requirements.txt) and the
SAM template is included into this stack. The stack, not Chalice, owns the IAM role (least privilege,
``manage_iam_role: false``) and the environment; every function runs in the VPC so it can reach the
media service's control port.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from chalice.cdk import Chalice
from constructs import Construct

from infra import layers
from infra.config import REPO_ROOT, StageConfig
from infra.stacks.common import log_group_for

API_HANDLER = "APIHandler"
REST_API = "RestAPI"

NOT_FOUND_BODY = '{"error":"not_found","message":"Unknown route."}'

# API Gateway access log line (JSON); no headers, bodies or query strings (keys and phone numbers stay out).
ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId", "ip": "$context.identity.sourceIp", "time": "$context.requestTime",
    "method": "$context.httpMethod", "resource": "$context.resourcePath", "status": "$context.status",
    "bytes": "$context.responseLength", "latencyMs": "$context.responseLatency",
    "error": "$context.error.responseType"}, separators=(",", ":"))


def _flat(code: str, message: str | None = None) -> str:
    # $context.error.messageString is already a quoted JSON string.
    msg = json.dumps(message) if message else "$context.error.messageString"
    return '{"error":"%s","message":%s}' % (code, msg)  # noqa: UP031 - a VTL template, not Python formatting


# API Gateway's own responses (no Lambda involved) in the contract's flat error shape.
GATEWAY_RESPONSES: dict[str, tuple[int | None, str]] = {
    "MISSING_AUTHENTICATION_TOKEN": (404, NOT_FOUND_BODY),  # what API Gateway answers for an unknown route
    "RESOURCE_NOT_FOUND": (404, NOT_FOUND_BODY),
    "THROTTLED": (429, _flat("rate_limit_exceeded", "Too many requests.")),
    "REQUEST_TOO_LARGE": (413, _flat("payload_too_large", "Request body too large.")),
    "DEFAULT_4XX": (None, _flat("invalid_request")),
    "DEFAULT_5XX": (None, _flat("internal_error", "Internal server error.")),
}


def gateway_responses() -> dict[str, Any]:
    """The ``x-amazon-apigateway-gateway-responses`` extension (deployed with the API definition)."""
    out: dict[str, Any] = {}
    for kind, (status, body) in GATEWAY_RESPONSES.items():
        entry: dict[str, Any] = {"responseTemplates": {"application/json": body},
                                 "responseParameters": {"gatewayresponse.header.Content-Type": "'application/json'"}}
        if status is not None:
            entry["statusCode"] = str(status)
        out[kind] = entry
    return out


def _app_modules() -> dict[str, Any]:
    return {name: mod for name, mod in sys.modules.items() if name == "app" or name.split(".")[0] == "chalicelib"}


@contextlib.contextmanager
def _packaging_state(values: dict[str, str]) -> Iterator[None]:
    """``chalice package`` imports app.py in this process after copying the stage's environment (CDK
    tokens included) into ``os.environ``. Import the app fresh, with the deployed values for decorators that
    read the environment at import time (the SQS consumer's queue name), and put the process back as it was:
    environment and already-imported modules (tests synthesize inside a larger session)."""
    saved_env = dict(os.environ)
    saved_modules = _app_modules()
    for name in saved_modules:
        del sys.modules[name]
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        for name in _app_modules():
            del sys.modules[name]
        sys.modules.update(saved_modules)


class ChaliceApi:
    """Wraps the Chalice construct, which must sit directly in the stack: it takes its stage name from its
    scope, so the Chalice stage is the stack name (voice-dev, voice-prod)."""

    def __init__(self, scope: Construct, *, config: StageConfig, vpc: ec2.IVpc,
                 security_group: ec2.ISecurityGroup, role: iam.IRole, environment: dict[str, str],
                 packaging_environment: dict[str, str]) -> None:
        stage_config: dict[str, Any] = {
            "api_gateway_stage": config.api_gateway_stage,
            "lambda_memory_size": config.lambda_memory_mb,
            "lambda_timeout": config.api_timeout_seconds,
            "manage_iam_role": False,
            "iam_role_arn": role.role_arn,
            "autogen_policy": False,
            "xray": True,
            "subnet_ids": vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS).subnet_ids,
            "security_group_ids": [security_group.security_group_id],
            "environment_variables": environment,
        }
        if config.api_domain:
            stage_config["api_gateway_custom_domain"] = {
                "domain_name": config.api_domain, "certificate_arn": config.api_certificate_arn}
        with _packaging_state(packaging_environment):
            self.chalice = Chalice(scope, "Chalice", source_dir=str(REPO_ROOT), stage_config=stage_config)
        sam_path = Path(self.chalice._sam_package_dir) / "sam.json"  # the packaged template, before inclusion
        self.sam: dict[str, Any] = json.loads(sam_path.read_text())
        self.function_ids = sorted(name for name, res in self.sam["Resources"].items()
                                   if res["Type"] == "AWS::Serverless::Function")
        for function_id in self.function_ids:
            if function_id != API_HANDLER:
                # Workflow tasks and the queue consumer may run longer than an API request.
                self.chalice.get_resource(function_id).add_property_override("Timeout", config.task_timeout_seconds)
        for function_id in self.function_ids:
            # Chalice's own log_retention_in_days names the API handler's group wrongly (ApiHandler vs
            # APIHandler), so the stack creates the groups.
            group = logs.CfnLogGroup(scope, f"{function_id}Logs", retention_in_days=config.log_retention_days,
                                     log_group_name=f"/aws/lambda/{self.chalice.get_resource(function_id).ref}")
            group.apply_removal_policy(cdk.RemovalPolicy.RETAIN if config.retain_data else cdk.RemovalPolicy.DESTROY)
        self._attach_layers(scope, config)
        rest_api = self.chalice.get_resource(REST_API)
        rest_api.add_property_override("Name", config.prefix + "api")
        rest_api.add_property_override("DefinitionBody.x-amazon-apigateway-gateway-responses", gateway_responses())
        self._access_logs(scope, config, rest_api)
        self.rest_api_id = rest_api.ref

    def _access_logs(self, scope: Construct, config: StageConfig, rest_api: cdk.CfnResource) -> None:
        """One JSON line per API request. API Gateway writes them with the account's CloudWatch role (a
        per-region account setting; the stack sets it, as CDK's own RestApi does)."""
        self.access_log_group = log_group_for(scope, "ApiAccessLogs", f"/aws/apigateway/{config.prefix}api-access",
                                              config)
        self.cloudwatch_role = iam.Role(
            scope, "ApiGatewayCloudWatchRole", assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),  # pyright: ignore[reportArgumentType]
            description="API Gateway account setting: push access logs to CloudWatch Logs",
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(
                "service-role/AmazonAPIGatewayPushToCloudWatchLogs")])
        account = apigateway.CfnAccount(scope, "ApiGatewayAccount", cloud_watch_role_arn=self.cloudwatch_role.role_arn)
        # Deleting the stack must not unset a region-wide setting other APIs may rely on.
        account.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        rest_api.add_property_override("AccessLogSetting", {
            "DestinationArn": self.access_log_group.log_group_arn, "Format": ACCESS_LOG_FORMAT})
        rest_api.add_dependency(account)

    def _attach_layers(self, scope: Construct, config: StageConfig) -> None:
        """Each function gets the provider-SDK layers it calls (infra/layers.py), and no others."""
        unknown = sorted(set(self.function_ids) - set(layers.FUNCTION_LAYERS))
        if unknown:
            raise ValueError(f"functions without a layer classification in infra/layers.py: {unknown}")
        self.layers: dict[str, lambda_.LayerVersion] = {}
        for name in layers.layer_names():
            self.layers[name] = lambda_.LayerVersion(
                scope, f"{name.capitalize()}Layer", layer_version_name=f"{config.prefix}{name}",
                code=lambda_.Code.from_asset(str(layers.layer_path(name))),
                compatible_runtimes=[lambda_.Runtime.PYTHON_3_11],
                description=f"layers/{name}.txt for the functions that call it")
        for function_id in self.function_ids:
            needed = layers.FUNCTION_LAYERS[function_id]
            if needed:
                self.chalice.get_resource(function_id).add_property_override(
                    "Layers", [self.layers[name].layer_version_arn for name in needed])

    def function(self, logical_id: str) -> lambda_.IFunction | None:
        if logical_id not in self.function_ids:
            return None
        return self.chalice.get_function(logical_id)

    def function_arn(self, logical_id: str) -> str | None:
        function = self.function(logical_id)
        return function.function_arn if function else None
