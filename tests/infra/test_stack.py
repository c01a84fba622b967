"""The synthesized prod stack: every resource the platform needs, scoped IAM, and a clean cfn-lint."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match

from tests.infra.conftest import CERT, MEDIA_DOMAIN, PUBLIC_BASE_URL, REPO

pytestmark = pytest.mark.infra


def _ref_id(value: Any) -> str | None:
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
    return None


def _ref_starts(value: Any, prefix: str) -> bool:
    ref = _ref_id(value)
    return ref is not None and ref.startswith(prefix)


def _table_ids(synth) -> dict[str, str]:
    """Physical table name -> logical id in the template."""
    return {res["Properties"]["TableName"]: lid for lid, res in synth.resources("AWS::DynamoDB::Table").items()}


def _functions(synth) -> dict[str, dict[str, Any]]:
    return synth.resources("AWS::Serverless::Function")


# ---------------------------------------------------------------- tables
def _expected_from_model(model) -> dict[str, Any]:
    """Keys, types and indexes read from the pynamodb model's attributes (not from its create schema)."""
    attrs = model.get_attributes()
    types = {a.attr_name: a.attr_type for a in attrs.values()}
    keys = [{"AttributeName": attrs[model._hash_keyname].attr_name, "KeyType": "HASH"}]
    if model._range_keyname:
        keys.append({"AttributeName": attrs[model._range_keyname].attr_name, "KeyType": "RANGE"})
    gsis, lsis = {}, {}
    for index in model._indexes.values():
        index_attrs = index._get_attributes() if hasattr(index, "_get_attributes") else index.Meta.attributes
        hash_name = next(a.attr_name for a in index_attrs.values() if a.is_hash_key)
        range_name = next((a.attr_name for a in index_attrs.values() if a.is_range_key), None)
        entry = {"hash": hash_name, "range": range_name, "projection": index.Meta.projection.projection_type}
        for a in index_attrs.values():
            types.setdefault(a.attr_name, a.attr_type)
        (lsis if index.__class__.__mro__[1].__name__ == "LocalSecondaryIndex" else gsis)[index.Meta.index_name] = entry
    return {"keys": keys, "types": types, "gsis": gsis, "lsis": lsis}


def test_every_model_has_its_table_with_the_models_keys_and_indexes(synth):
    from chalicelib.settings import TABLE_NAMES
    from chalicelib.storage.tables import ALL_MODELS, TTL_ATTRIBUTES
    from infra.stacks.tables import logical_name

    tables = synth.resources("AWS::DynamoDB::Table")
    by_name = {res["Properties"]["TableName"]: res for res in tables.values()}
    assert len(tables) == len(ALL_MODELS) == len(TABLE_NAMES)
    assert {logical_name(m, TABLE_NAMES) for m in ALL_MODELS} == set(TABLE_NAMES)
    for model in ALL_MODELS:
        logical = logical_name(model, TABLE_NAMES)
        res = by_name[synth.config.prefix + logical]
        props = res["Properties"]
        expected = _expected_from_model(model)
        assert sorted(props["KeySchema"], key=lambda k: k["KeyType"]) == expected["keys"], logical
        for definition in props["AttributeDefinitions"]:
            assert expected["types"][definition["AttributeName"]] == definition["AttributeType"], logical
        gsis = {g["IndexName"]: g for g in props.get("GlobalSecondaryIndexes", [])}
        lsis = {g["IndexName"]: g for g in props.get("LocalSecondaryIndexes", [])}
        assert set(gsis) == set(expected["gsis"]) and set(lsis) == set(expected["lsis"]), logical
        for name, want in {**expected["gsis"], **expected["lsis"]}.items():
            got = (gsis | lsis)[name]
            key = {k["KeyType"]: k["AttributeName"] for k in got["KeySchema"]}
            assert key["HASH"] == want["hash"] and key.get("RANGE") == want["range"], (logical, name)
            assert got["Projection"]["ProjectionType"] == want["projection"], (logical, name)
        ttl = TTL_ATTRIBUTES.get(model)
        if ttl:
            assert props["TimeToLiveSpecification"] == {"AttributeName": ttl, "Enabled": True}
        else:
            assert "TimeToLiveSpecification" not in props
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["DeletionProtectionEnabled"] is True
        assert res["DeletionPolicy"] == "Retain" and res["UpdateReplacePolicy"] == "Retain"


def test_known_layouts(synth):
    """Spot checks written by hand, independent of the generator."""
    by_name = {r["Properties"]["TableName"]: r["Properties"] for r in synth.resources("AWS::DynamoDB::Table").values()}
    calls = by_name["voice-prod-calls"]
    assert {k["AttributeName"]: k["KeyType"] for k in calls["KeySchema"]} == {"org_id": "HASH", "id": "RANGE"}
    assert calls["LocalSecondaryIndexes"][0]["IndexName"] == "by_created"
    gsis = {g["IndexName"]: g for g in calls["GlobalSecondaryIndexes"]}
    assert gsis["by_twilio_sid"]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    # The reaper's sparse index: live calls by shard, ordered by their last heartbeat.
    assert {k["AttributeName"]: k["KeyType"] for k in gsis["by_heartbeat"]["KeySchema"]} == {
        "live_shard": "HASH", "heartbeat_at": "RANGE"}
    assert by_name["voice-prod-rate_limits"]["TimeToLiveSpecification"]["AttributeName"] == "expires"
    assert by_name["voice-prod-idempotency"]["TimeToLiveSpecification"]["AttributeName"] == "expiration"


# ---------------------------------------------------------------- control plane
def test_call_reaper_runs_every_minute(synth):
    """The scheduled Lambda that ends calls whose media task stopped heartbeating."""
    functions = synth.resources("AWS::Serverless::Function")
    schedules = {name: event["Properties"]["Schedule"] for name, fn in functions.items()
                 for event in (fn["Properties"].get("Events") or {}).values() if event["Type"] == "Schedule"}
    assert list(schedules.values()) == ["rate(1 minute)"]
    [name] = schedules
    assert functions[name]["Properties"]["Handler"] == "chalicelib.api.scheduled.call_reaper"


def test_chalice_functions_get_the_stack_environment_and_run_in_the_vpc(synth):
    from chalicelib.settings import TABLE_NAMES

    functions = _functions(synth)
    assert "APIHandler" in functions
    table_ids = _table_ids(synth)
    role_id = next(iter(k for k in synth.resources("AWS::IAM::Role") if k.startswith("LambdaRole")))
    sg_id = next(iter(k for k in synth.resources("AWS::EC2::SecurityGroup") if k.startswith("LambdaSecurityGroup")))
    for lid, fn in functions.items():
        props = fn["Properties"]
        env = props["Environment"]["Variables"]
        for logical in TABLE_NAMES:
            assert _ref_id(env[f"TABLE_{logical.upper()}"]) == table_ids[f"voice-prod-{logical}"], (lid, logical)
        assert _ref_starts(env["WEBHOOK_QUEUE_URL"], "WebhookQueue")
        assert env["WEBHOOK_QUEUE_NAME"] == "voice-prod-webhook-retries"
        assert "stateMachine:voice-prod-call-analysis" in json.dumps(env["CALL_ANALYSIS_STATE_MACHINE_ARN"])
        assert "stateMachine:voice-prod-campaign-run" in json.dumps(env["CAMPAIGN_STATE_MACHINE_ARN"])
        assert env["MEDIA_WS_URL"] == f"wss://{MEDIA_DOMAIN}/twilio/stream"
        assert env["MEDIA_CONTROL_URL"] == "http://media.prod.voice.internal:8766"
        assert _ref_starts(env["KMS_KEY_ID"], "SecretsKey")
        assert env["PUBLIC_BASE_URL"] == PUBLIC_BASE_URL
        for name, prefix in (("PLATFORM_KEYS_SECRET_ARN", "PlatformKeys"), ("TWILIO_SECRET_ARN", "TwilioCredentials"),
                             ("MEDIA_CONTROL_SECRET_ARN", "MediaControlSecret"),
                             ("CALL_TOKEN_SECRET_ARN", "CallTokenSecret")):
            assert _ref_starts(env[name], prefix), name
        assert env["STAGE"] == "prod"
        assert env["CAMPAIGN_DISPATCH_SECONDS"] == str(synth.config.campaign_dispatch_seconds)
        assert env["CAMPAIGN_DIAL_THREADS"] == str(synth.config.campaign_dial_threads)
        assert _ref_id(props["Role"]) == role_id
        assert [_ref_id(s) for s in props["VpcConfig"]["SecurityGroupIds"]] == [sg_id]
        assert len(props["VpcConfig"]["SubnetIds"]) == 2
        assert props["Timeout"] == (30 if lid == "APIHandler" else synth.config.task_timeout_seconds)


def test_webhook_consumer_listens_on_the_stack_queue(synth):
    queues = synth.resources("AWS::SQS::Queue")
    main = next(q for q in queues.values() if q["Properties"]["QueueName"] == "voice-prod-webhook-retries")
    dlq_id = next(k for k, q in queues.items() if q["Properties"]["QueueName"] == "voice-prod-webhook-retries-dlq")
    redrive = main["Properties"]["RedrivePolicy"]
    assert _ref_id(redrive["deadLetterTargetArn"]) == dlq_id and redrive["maxReceiveCount"] == 5
    sources = [ev["Properties"]["Queue"] for fn in _functions(synth).values()
               for ev in fn["Properties"].get("Events", {}).values() if ev["Type"] == "SQS"]
    # The consumer (chalicelib.webhooks.handlers) is optional until it lands; when present it must
    # name this stack's queue (its decorator reads WEBHOOK_QUEUE_NAME at import time).
    for source in sources:
        assert json.dumps(source).endswith(':voice-prod-webhook-retries"}'), source


def test_gateway_responses_are_flat_errors_and_unknown_routes_404(synth):
    api = synth.resources("AWS::Serverless::Api")["RestAPI"]["Properties"]
    assert api["Name"] == "voice-prod-api" and api["StageName"] == "api"
    responses = api["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]
    missing = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert missing["statusCode"] == "404"
    assert json.loads(missing["responseTemplates"]["application/json"]) == {
        "error": "not_found", "message": "Unknown route."}
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        body = responses[kind]["responseTemplates"]["application/json"]
        rendered = json.loads(body.replace("$context.error.messageString", '"Forbidden"'))
        assert set(rendered) == {"error", "message"}, kind
    assert json.loads(responses["DEFAULT_5XX"]["responseTemplates"]["application/json"])["error"] == "internal_error"


# ---------------------------------------------------------------- IAM
def _statements(synth) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for lid, res in synth.json["Resources"].items():
        props = res.get("Properties", {})
        if res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            out += [(lid, s) for s in props["PolicyDocument"]["Statement"]]
        elif res["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                out += [(lid, s) for s in policy["PolicyDocument"]["Statement"]]
    return out


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_iam_statements_are_scoped(synth):
    statements = _statements(synth)
    assert statements
    for lid, statement in statements:
        actions = _as_list(statement["Action"])
        assert "*" not in actions and not any(a.endswith(":*") for a in actions), (lid, statement)
        scoped = any(a.split(":")[0] in {"dynamodb", "sqs", "kms", "states", "secretsmanager", "lambda"}
                     for a in actions)
        if scoped:
            assert "*" not in _as_list(statement["Resource"]), (lid, statement)


def test_lambda_role_reaches_exactly_the_stack_resources(synth):
    role_policy = [s for lid, s in _statements(synth) if lid.startswith("LambdaRoleDefaultPolicy")]
    by_service: dict[str, list[dict[str, Any]]] = {}
    for s in role_policy:
        by_service.setdefault(_as_list(s["Action"])[0].split(":")[0], []).append(s)
    ddb = by_service["dynamodb"][0]
    assert "dynamodb:Scan" not in ddb["Action"]
    tables = set(_table_ids(synth).values())
    assert {_ref_id(r) for r in ddb["Resource"] if _ref_id(r)} == tables
    assert sum(1 for r in ddb["Resource"] if "/index/*" in json.dumps(r)) == len(tables)
    assert _ref_starts(_as_list(by_service["sqs"][0]["Resource"])[0], "WebhookQueue")
    states = json.dumps(by_service["states"])
    assert "stateMachine:voice-prod-call-analysis" in states and "stateMachine:voice-prod-campaign-run" in states
    assert _ref_starts(_as_list(by_service["kms"][0]["Resource"])[0], "SecretsKey")
    secrets = {_ref_id(r) for s in by_service["secretsmanager"] for r in _as_list(s["Resource"])}
    assert secrets == set(synth.resources("AWS::SecretsManager::Secret"))


def test_kms_key_and_secrets(synth):
    key_id, key = next(iter(synth.resources("AWS::KMS::Key").items()))
    assert key["Properties"]["EnableKeyRotation"] is True and key["DeletionPolicy"] == "Retain"
    secrets = synth.resources("AWS::SecretsManager::Secret")
    names = {s["Properties"]["Name"] for s in secrets.values()}
    assert names == {"voice-prod-platform-keys", "voice-prod-twilio", "voice-prod-media-control",
                     "voice-prod-call-token"}
    for secret in secrets.values():
        assert _ref_id(secret["Properties"]["KmsKeyId"]) == key_id
        assert "SecretString" not in secret["Properties"]  # generated, never a literal in the template
    outputs = synth.json["Outputs"]
    assert {"PlatformKeysSecretArn", "TwilioSecretArn", "ApiUrl", "MediaWebSocketUrl"} <= set(outputs)


# ---------------------------------------------------------------- workflows
def test_state_machines_come_from_the_asl_files_with_function_arns_substituted(synth):
    from infra.stacks.workflows import FUNCTION_PREFIX, function_logical_id, placeholders

    machines = synth.resources("AWS::StepFunctions::StateMachine")
    by_name = {m["Properties"]["StateMachineName"]: m["Properties"] for m in machines.values()}
    assert set(by_name) == {"voice-prod-call-analysis", "voice-prod-campaign-run", "voice-prod-eval-run"}
    assets = json.loads((synth.outdir / f"{synth.config.stack_name}.assets.json").read_text())["files"]
    functions = _functions(synth)
    for machine, name in (("call_analysis", "voice-prod-call-analysis"), ("campaign_run", "voice-prod-campaign-run"),
                          ("eval_run", "voice-prod-eval-run")):
        props = by_name[name]
        source = (synth.asl_dir / f"{machine}.asl.json").read_text()
        key = props["DefinitionS3Location"]["Key"]
        staged = next(a for a in assets.values()
                      if any(d["objectKey"] == key for d in a["destinations"].values()))
        assert (synth.outdir / staged["source"]["path"]).read_text() == source  # the repo file, unchanged
        subs = props.get("DefinitionSubstitutions", {})
        if synth.real_asl:
            assert subs, machine  # the repo's files name their task functions
        assert set(subs) == set(placeholders(source))
        rendered = source
        for placeholder, value in subs.items():
            if placeholder.startswith(FUNCTION_PREFIX):
                logical = function_logical_id(placeholder[len(FUNCTION_PREFIX):])
                assert logical in functions, placeholder
                assert value == {"Fn::GetAtt": [logical, "Arn"]}, placeholder
                value = f"arn:aws:lambda:us-east-1:123456789012:function:{logical}"
            rendered = rendered.replace("${" + placeholder + "}", value if isinstance(value, str) else "X")
        assert "${" not in rendered
        json.loads(rendered)  # still valid ASL JSON after substitution


# ---------------------------------------------------------------- media service
def test_media_service_on_fargate_behind_tls_websocket_listener(synth):
    t = synth.template
    t.has_resource_properties("AWS::ECS::TaskDefinition", {
        "RequiresCompatibilities": ["FARGATE"], "NetworkMode": "awsvpc",
        "ContainerDefinitions": [Match.object_like({
            "Name": "media",
            "PortMappings": [Match.object_like({"ContainerPort": 8765}), Match.object_like({"ContainerPort": 8766})],
            "Environment": Match.array_with([{"Name": "ACTIVE_CALLS_METRIC_NAMESPACE", "Value": "VoicePlatform"},
                                             {"Name": "MEDIA_WS_URL", "Value": f"wss://{MEDIA_DOMAIN}/twilio/stream"}]),
            "Secrets": Match.array_with([Match.object_like({"Name": "CALL_TOKEN_SECRET"}),
                                         Match.object_like({"Name": "MEDIA_CONTROL_SECRET"})]),
        })],
    })
    t.has_resource_properties("AWS::ECS::Service", {"LaunchType": "FARGATE", "ServiceName": "voice-prod-media",
                                                    "DesiredCount": 2})
    t.has_resource_properties("AWS::ElasticLoadBalancingV2::LoadBalancer", {"Scheme": "internet-facing"})
    t.has_resource_properties("AWS::ElasticLoadBalancingV2::Listener", {
        "Port": 443, "Protocol": "HTTPS", "Certificates": [{"CertificateArn": CERT}],
        "DefaultActions": [Match.object_like({"Type": "fixed-response"})]})
    t.has_resource_properties("AWS::ElasticLoadBalancingV2::ListenerRule", {
        "Conditions": [{"Field": "path-pattern",
                        "PathPatternConfig": {"Values": ["/twilio/stream", "/twilio/stream/*"]}}]})
    t.has_resource_properties("AWS::ElasticLoadBalancingV2::ListenerRule", {
        "Priority": 20, "Conditions": [{"Field": "path-pattern",
                                        "PathPatternConfig": {"Values": ["/web/*", "/monitor/*"]}}]})
    t.has_resource_properties("AWS::ElasticLoadBalancingV2::TargetGroup", {
        "Port": 8765, "TargetType": "ip", "HealthCheckPath": "/healthz",
        "TargetGroupAttributes": Match.array_with([{"Key": "deregistration_delay.timeout_seconds", "Value": "3600"}])})
    t.has_resource_properties("AWS::Route53::RecordSet", {"Name": f"{MEDIA_DOMAIN}.", "Type": "A"})
    images = json.loads((synth.outdir / f"{synth.config.stack_name}.assets.json").read_text())["dockerImages"]
    assert [i["source"]["dockerFile"] for i in images.values()] == ["media/Dockerfile"]


def test_media_autoscaling_on_active_calls_with_cpu_floor(synth):
    policies = [p["Properties"]["TargetTrackingScalingPolicyConfiguration"]
                for p in synth.resources("AWS::ApplicationAutoScaling::ScalingPolicy").values()]
    custom = [p for p in policies if "CustomizedMetricSpecification" in p]
    cpu = [p for p in policies if p.get("PredefinedMetricSpecification", {}).get("PredefinedMetricType")
           == "ECSServiceAverageCPUUtilization"]
    assert len(custom) == 1 and len(cpu) == 1
    spec = custom[0]["CustomizedMetricSpecification"]
    assert (spec["Namespace"], spec["MetricName"], spec["Statistic"]) == ("VoicePlatform", "ActiveCalls", "Average")
    assert spec["Dimensions"] == [{"Name": "Service", "Value": "voice-prod-media"}]
    assert custom[0]["TargetValue"] == 20 and cpu[0]["TargetValue"] == 60
    target = next(iter(synth.resources("AWS::ApplicationAutoScaling::ScalableTarget").values()))["Properties"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 50)


def test_control_port_only_reachable_from_the_lambdas_and_other_media_tasks(synth):
    ingress = [r["Properties"] for r in synth.resources("AWS::EC2::SecurityGroupIngress").values()]
    control = [r for r in ingress if r["FromPort"] == 8766]
    assert len(control) == 2
    assert any(_ref_starts(r["SourceSecurityGroupId"], "LambdaSecurityGroup") for r in control)
    # the monitor relay: a media task reaches another's control listener (its own security group)
    relay = [r for r in control if not _ref_starts(r["SourceSecurityGroupId"], "LambdaSecurityGroup")]
    assert len(relay) == 1 and relay[0]["SourceSecurityGroupId"] == relay[0]["GroupId"]
    media = [r for r in ingress if r["FromPort"] == 8765]
    assert media and all(_ref_starts(r["SourceSecurityGroupId"], "MediaLoadBalancer") for r in media)
    for sg in synth.resources("AWS::EC2::SecurityGroup").values():
        for rule in sg["Properties"].get("SecurityGroupIngress", []):
            assert rule.get("FromPort") not in (8765, 8766), rule  # no CIDR-open media or control port


def test_service_discovery_name_for_the_control_url(synth):
    synth.template.has_resource_properties("AWS::ServiceDiscovery::PrivateDnsNamespace",
                                           {"Name": "prod.voice.internal"})
    synth.template.has_resource_properties("AWS::ServiceDiscovery::Service", {"Name": "media"})


# ---------------------------------------------------------------- alarms and outputs
def test_alarms(synth):
    alarms = [a["Properties"] for a in synth.resources("AWS::CloudWatch::Alarm").values()]
    metrics = {(a.get("Namespace"), a.get("MetricName")) for a in alarms}
    assert ("AWS/ApiGateway", "5XXError") in metrics
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in metrics
    assert ("AWS/ApplicationELB", "UnHealthyHostCount") in metrics
    assert sum(1 for a in alarms if a.get("MetricName") == "ExecutionsFailed") == 3
    for lid in _functions(synth):
        for name in ("Errors", "Throttles"):
            assert any(a.get("MetricName") == name and _ref_id(a["Dimensions"][0]["Value"]) == lid for a in alarms), lid
    topic = next(iter(synth.resources("AWS::SNS::Topic")))
    assert all(_ref_id(a["AlarmActions"][0]) == topic for a in alarms)
    synth.template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email",
                                                                      "Endpoint": "ops@example.com"})


def test_outputs(synth):
    outputs = synth.json["Outputs"]
    assert outputs["MediaWebSocketUrl"]["Value"] == f"wss://{MEDIA_DOMAIN}/twilio/stream"
    assert "execute-api" in json.dumps(outputs["ApiUrl"]["Value"])


# ---------------------------------------------------------------- hygiene and lint
def test_synth_leaves_the_process_and_repo_clean(synth):
    import os

    # chalice package copies the stage env (CDK tokens included) into os.environ: it must be put back.
    def clean(env):
        return {k: v for k, v in env.items() if k != "PYTEST_CURRENT_TEST"}

    assert clean(os.environ) == clean(synth.env_before)
    assert not (REPO / "chalice.out").exists() and not (REPO / "infra" / "chalice.out").exists()
    import chalicelib.settings as settings

    assert "Token[" not in settings.table_name("orgs")


def test_cfn_lint_reports_no_errors(synth):
    cfn_lint = str(Path(sys.executable).parent / "cfn-lint")
    proc = subprocess.run([cfn_lint, str(synth.template_path)], capture_output=True, text=True, timeout=240)
    # Exit code bits: 2 errors, 4 warnings, 8 informational. Only errors fail.
    assert proc.returncode & 2 == 0, proc.stdout + proc.stderr
    assert not re.search(r"^E\d{4}", proc.stdout, re.MULTILINE), proc.stdout



def test_api_access_logs_one_json_line_per_request_without_bodies(synth):
    from infra.stacks.api import REST_API

    api = synth.json["Resources"][REST_API]
    setting = api["Properties"]["AccessLogSetting"]
    group = synth.json["Resources"][setting["DestinationArn"]["Fn::GetAtt"][0]]
    assert group["Properties"]["LogGroupName"] == "/aws/apigateway/voice-prod-api-access"
    assert group["Properties"]["RetentionInDays"] == synth.config.log_retention_days
    fields = json.loads(setting["Format"])
    assert {"requestId", "status", "resource", "latencyMs"} <= set(fields)
    assert not any("header" in v or "body" in v or "querystring" in v.lower() for v in fields.values())
    # API Gateway writes access logs with the account's CloudWatch role, set before the API's stage exists.
    (account_id,) = synth.resources("AWS::ApiGateway::Account")
    assert account_id in _as_list(api["DependsOn"])
    assert synth.json["Resources"][account_id]["DeletionPolicy"] == "Retain"
