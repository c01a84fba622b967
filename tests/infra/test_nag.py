"""cdk-nag's AwsSolutions rules on the synthesized prod app: no unsuppressed error, and every suppression says why."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.infra


def test_no_unsuppressed_aws_solutions_error(synth):
    assert synth.nag_errors == []


def test_the_review_ran_and_its_suppressions_are_recorded_with_reasons(synth):
    # Suppressions land in the template's metadata: proof the rules saw these resources, and the audit trail.
    reasons = {}
    for lid, res in synth.json["Resources"].items():
        for rule in res.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            reasons.setdefault(rule["id"], []).append((lid, rule["reason"]))
    assert {"AwsSolutions-IAM5", "AwsSolutions-SMG4", "AwsSolutions-EC23"} <= set(reasons)
    assert all(len(reason) >= 20 for found in reasons.values() for _, reason in found)


def test_fixed_findings_stay_fixed(synth):
    """S1, VPC7, ECS4, SF1: fixed in the stack, not suppressed."""
    recordings = next(r for lid, r in synth.resources("AWS::S3::Bucket").items() if lid.startswith("Recordings"))
    logging = recordings["Properties"]["LoggingConfiguration"]
    assert logging["DestinationBucketName"]["Ref"].startswith("AccessLogs")
    flow_logs = list(synth.resources("AWS::EC2::FlowLog").values())
    assert [f["Properties"]["TrafficType"] for f in flow_logs] == ["REJECT"]
    (cluster,) = synth.resources("AWS::ECS::Cluster").values()
    assert {"Name": "containerInsights", "Value": "enabled"} in cluster["Properties"]["ClusterSettings"]
    machines = synth.resources("AWS::StepFunctions::StateMachine").values()
    assert {(m["Properties"]["LoggingConfiguration"]["Level"],
             m["Properties"]["LoggingConfiguration"]["IncludeExecutionData"]) for m in machines} == {("ALL", False)}


def test_nag_errors_reports_an_unsuppressed_finding(tmp_path):
    """The same check and collector on a one-bucket app: a finding the stack did not answer is reported."""
    import aws_cdk as cdk
    from aws_cdk import aws_s3 as s3

    from infra import nag

    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Probe")
    s3.Bucket(stack, "Plain")  # no access logs, no TLS-only policy
    nag.check(app)
    errors = nag.nag_errors(app.synth())
    assert any("AwsSolutions-S1" in e for e in errors) and any("AwsSolutions-S10" in e for e in errors), errors
    assert all(e.startswith("/Probe/Plain/") for e in errors), errors
