"""Fast checks without Chalice packaging: the typed config, the dev stage's data settings, and the clear
failures when an ASL file or the media Dockerfile is missing or names something unknown."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template
from pydantic import ValidationError

from infra.config import config_from_context, load_config
from infra.stacks.media import MediaImageMissing, media_image
from infra.stacks.tables import Tables
from infra.stacks.workflows import AslError, StateMachines, function_logical_id
from tests.infra.conftest import CERT, placeholder_asl_dir

pytestmark = pytest.mark.infra


def test_stage_defaults_and_names():
    dev, prod = load_config("dev"), load_config("prod", {"certificate_arn": CERT, "media_domain": "m.example.com"})
    assert dev.stack_name == "voice-dev" and dev.table_name("calls") == "voice-dev-calls"
    assert not dev.retain_data and not dev.deletion_protection
    assert prod.retain_data and prod.deletion_protection and prod.media_min_tasks == 2
    assert prod.media_control_url == "http://media.prod.voice.internal:8766"


@pytest.mark.parametrize("stage, overrides, message", [
    ("prod", {}, "prod needs certificate_arn"),
    ("dev", {"certificate_arn": CERT}, "go together"),
    ("dev", {"media_control_port": 8765}, "must differ"),
    ("dev", {"media_min_tasks": 5, "media_max_tasks": 2}, "must not exceed"),
    ("dev", {"log_retention_days": 31}, "log_retention_days"),
    ("dev", {"campaign_dispatch_seconds": 100, "task_timeout_seconds": 120}, "campaign_dispatch_seconds"),
])
def test_invalid_config_is_refused_with_a_reason(stage, overrides, message):
    with pytest.raises(ValidationError, match=message):
        load_config(stage, overrides)


def test_unknown_stage():
    with pytest.raises(ValueError, match="unknown stage"):
        load_config("staging")


def test_context_overrides_one_key_or_a_stage_object():
    app = cdk.App(context={"stage": "prod", "certificate_arn": CERT, "media_domain": "m.example.com",
                           "voice:prod": {"media_max_tasks": 7, "target_calls_per_task": 12}})
    config = config_from_context(app.node)
    assert (config.stage, config.media_max_tasks, config.target_calls_per_task) == ("prod", 7, 12)
    assert config.certificate_arn == CERT


def test_dev_tables_are_not_retained():
    app = cdk.App()
    stack = cdk.Stack(app, "t")
    Tables(stack, "Tables", config=load_config("dev"))
    data = Template.from_stack(stack).to_json()
    for res in data["Resources"].values():
        assert res["DeletionPolicy"] == "Delete"
        assert res["Properties"]["DeletionProtectionEnabled"] is False
        assert res["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_missing_dockerfile_fails_clearly(tmp_path):
    config = load_config("dev", {"media_context_dir": str(tmp_path)})
    with pytest.raises(MediaImageMissing, match="media/Dockerfile is missing"):
        media_image(config)


def test_function_logical_ids_follow_chalice_package():
    assert function_logical_id("analysis_load") == "AnalysisLoad"
    assert function_logical_id("campaign-dial") == "CampaignDial"


def _machines(tmp_path, asl: dict, known: dict[str, str]):
    asl_dir = placeholder_asl_dir(tmp_path / "asl")
    (asl_dir / "call_analysis.asl.json").write_text(json.dumps(asl))
    config = load_config("dev", {"asl_dir": str(asl_dir)})
    stack = cdk.Stack(cdk.App(), "t")
    machines = StateMachines(stack, "Wf", config=config, function_arn=known.get, function_arns=list(known.values()),
                             values={"WebhookQueueUrl": "https://sqs/q"},
                             table_arns=["arn:aws:dynamodb:us-east-1:1:table/t"], queue_arn="arn:aws:sqs:us-east-1:1:q")
    return stack, machines


ASL = {"StartAt": "Load", "States": {
    "Load": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
             "Parameters": {"FunctionName": "${FunctionArn_analysis_load}", "Payload.$": "$"}, "Next": "Wait"},
    "Wait": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
             "Parameters": {"QueueUrl": "${WebhookQueueUrl}", "MessageBody.$": "$"}, "End": True}}}


def test_substitutions_and_role_follow_the_asl(tmp_path):
    arn = "arn:aws:lambda:us-east-1:1:function:load"
    stack, machines = _machines(tmp_path, ASL, {"AnalysisLoad": arn})
    assert machines.substitutions["call_analysis"] == {"FunctionArn_analysis_load": arn,
                                                       "WebhookQueueUrl": "https://sqs/q"}
    data = Template.from_stack(stack).to_json()
    statements = [s for r in data["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
                  for s in r["Properties"]["PolicyDocument"]["Statement"]]
    invoke = next(s for s in statements if s["Action"] == "lambda:InvokeFunction")
    assert invoke["Resource"] == [arn, f"{arn}:*"]
    assert any(s["Action"] == "sqs:SendMessage" and s["Resource"] == "arn:aws:sqs:us-east-1:1:q" for s in statements)


def test_unknown_function_placeholder_fails_clearly(tmp_path):
    with pytest.raises(AslError, match=r"names no Chalice @lambda_function\(name='analysis_load'\)"):
        _machines(tmp_path, ASL, {})


def test_unknown_placeholder_and_integration_fail_clearly(tmp_path):
    bad = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "${Nope}", "End": True}}}
    with pytest.raises(AslError, match=r"unknown placeholder \$\{Nope\}"):
        _machines(tmp_path, bad, {})
    ecs = {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.sync",
                                            "End": True}}}
    with pytest.raises(AslError, match="not an integration"):
        _machines(tmp_path, ecs, {})


def test_missing_asl_fails_clearly(tmp_path):
    config = load_config("dev", {"asl_dir": str(tmp_path / "nowhere")})
    with pytest.raises(AslError, match="call_analysis.asl.json is missing"):
        StateMachines(cdk.Stack(cdk.App(), "t"), "Wf", config=config, function_arn=lambda _: None, function_arns=[],
                      values={}, table_arns=[], queue_arn="q")


def test_dev_without_certificate_serves_plain_ws_and_warns(tmp_path):
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk.assertions import Annotations

    from infra.stacks.media import MediaService
    from tests.infra.conftest import placeholder_media_context

    config = load_config("dev", {"media_context_dir": str(placeholder_media_context(tmp_path))})
    stack = cdk.Stack(cdk.App(), "t")
    vpc = ec2.Vpc(stack, "Vpc", nat_gateways=1)
    media = MediaService(stack, "Media", config=config, vpc=vpc, lambda_security_group=ec2.SecurityGroup(
        stack, "L", vpc=vpc), environment={}, secrets={})
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::ElasticLoadBalancingV2::Listener", {"Port": 80, "Protocol": "HTTP"})
    template.resource_count_is("AWS::ElasticLoadBalancingV2::Listener", 1)
    assert stack.resolve(media.websocket_url)["Fn::Join"][1][0] == "ws://"
    Annotations.from_stack(stack).has_warning("/t/Media", Match.string_like_regexp("plain ws://"))
