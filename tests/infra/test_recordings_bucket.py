"""The call recordings bucket: private, encrypted, TLS only, expiring; scoped grants; env on both runtimes."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.infra


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _bucket(synth) -> tuple[str, dict[str, Any]]:
    buckets = {lid: res for lid, res in synth.resources("AWS::S3::Bucket").items() if lid.startswith("Recordings")}
    assert len(buckets) == 1, list(synth.resources("AWS::S3::Bucket"))
    return next(iter(buckets.items()))


def _policy_statements(synth, prefix: str) -> list[dict[str, Any]]:
    out = []
    for lid, res in synth.resources("AWS::IAM::Policy").items():
        if lid.startswith(prefix):
            out.extend(res["Properties"]["PolicyDocument"]["Statement"])
    return out


def _s3_statements(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in statements if any(a.startswith("s3:") for a in _as_list(s["Action"]))]


def test_bucket_is_private_encrypted_and_expires(synth):
    lid, bucket = _bucket(synth)
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse["SSEAlgorithm"] == "AES256"
    rules = props["LifecycleConfiguration"]["Rules"]
    expiry = [r for r in rules if r.get("ExpirationInDays")]
    assert expiry and expiry[0]["ExpirationInDays"] == synth.config.recordings_retention_days == 90
    assert expiry[0]["Prefix"] == "recordings/" and expiry[0]["Status"] == "Enabled"
    # prod retains data: the bucket outlives a stack deletion
    assert bucket["DeletionPolicy"] == "Retain"


def test_bucket_policy_denies_plain_http(synth):
    lid, _ = _bucket(synth)
    policies = [res for res in synth.resources("AWS::S3::BucketPolicy").values()
                if res["Properties"]["Bucket"] == {"Ref": lid}]
    assert len(policies) == 1
    statements = policies[0]["Properties"]["PolicyDocument"]["Statement"]
    deny = [s for s in statements if s["Effect"] == "Deny"]
    assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny[0]["Action"] == "s3:*"


def _resources_of(statement: dict[str, Any]) -> str:
    return json.dumps(statement["Resource"])


def test_media_tasks_may_only_put_recordings(synth):
    lid, _ = _bucket(synth)
    s3 = _s3_statements(_policy_statements(synth, "MediaTaskTaskRoleDefaultPolicy"))
    assert len(s3) == 1
    assert _as_list(s3[0]["Action"]) == ["s3:PutObject"]
    resources = _resources_of(s3[0])
    assert lid in resources and "/recordings/*" in resources


def test_lambdas_may_get_and_delete_recordings_but_not_put_or_list(synth):
    lid, _ = _bucket(synth)
    s3 = _s3_statements(_policy_statements(synth, "LambdaRoleDefaultPolicy"))
    assert len(s3) == 1
    assert sorted(_as_list(s3[0]["Action"])) == ["s3:DeleteObject", "s3:GetObject"]
    resources = _resources_of(s3[0])
    assert lid in resources and "/recordings/*" in resources


def test_recordings_bucket_env_on_lambdas_and_media(synth):
    lid, _ = _bucket(synth)
    functions = synth.resources("AWS::Serverless::Function")
    assert functions
    for fid, fn in functions.items():
        env = fn["Properties"]["Environment"]["Variables"]
        assert env["RECORDINGS_BUCKET"] == {"Ref": lid}, fid
    tasks = synth.resources("AWS::ECS::TaskDefinition")
    container = tasks[next(iter(tasks))]["Properties"]["ContainerDefinitions"][0]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env["RECORDINGS_BUCKET"] == {"Ref": lid}


def test_retention_days_come_from_config():
    from infra.config import load_config

    assert load_config("dev").recordings_retention_days == 90
    assert load_config("dev", {"recordings_retention_days": "30"}).recordings_retention_days == 30
    with pytest.raises(ValueError):
        load_config("dev", {"recordings_retention_days": 0})


def test_console_origin_may_fetch_recordings(synth):
    """The console (the API's origin, /console) draws its waveform from the presigned URL: GET/HEAD allowed."""
    _, bucket = _bucket(synth)
    (rule,) = bucket["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedOrigins"] == ["https://api.example.com"]  # public_base_url's origin, nothing wider
    assert sorted(rule["AllowedMethods"]) == ["GET", "HEAD"]
    assert rule["AllowedHeaders"] == ["Range"]
    assert {"Content-Length", "Content-Range", "Accept-Ranges"} <= set(rule["ExposedHeaders"])


def test_console_origins_follow_the_api_address():
    import aws_cdk as cdk

    from infra.config import load_config
    from infra.stacks.platform import console_origins

    assert console_origins(load_config("dev", {"public_base_url": "https://abc.execute-api.eu-west-1.amazonaws.com/api/"})
                           ) == ["https://abc.execute-api.eu-west-1.amazonaws.com"]
    cert = "arn:aws:acm:eu-west-1:123456789012:certificate/x"
    assert console_origins(load_config("dev", {"api_domain": "voice.example.com", "api_certificate_arn": cert})
                           ) == ["https://voice.example.com"]
    # Before the first deploy the API's address is unknown: the region's API Gateway hosts.
    stack = cdk.Stack(cdk.App())
    (origin,) = console_origins(load_config("dev"))
    assert stack.resolve(origin) == {"Fn::Join": ["", ["https://*.execute-api.", {"Ref": "AWS::Region"}, ".",
                                                       {"Ref": "AWS::URLSuffix"}]]}
