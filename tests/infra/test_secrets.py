"""The deployed Lambdas get secret ARNs only; settings resolve them through Secrets Manager (moto)."""

from __future__ import annotations

import json

import boto3
import pytest

pytestmark = pytest.mark.infra


@pytest.fixture
def secret_env(aws, monkeypatch):
    from chalicelib.settings import reset_settings

    sm = boto3.client("secretsmanager", region_name="us-east-1")
    arns = {
        "CALL_TOKEN_SECRET_ARN": sm.create_secret(Name="t-call-token", SecretString="tok-123")["ARN"],
        "MEDIA_CONTROL_SECRET_ARN": sm.create_secret(Name="t-media-control", SecretString="ctl-456")["ARN"],
        "TWILIO_SECRET_ARN": sm.create_secret(
            Name="t-twilio", SecretString=json.dumps({"account_sid": "AC1", "auth_token": "at-789"}))["ARN"],
    }
    for name in ("CALL_TOKEN_SECRET", "MEDIA_CONTROL_SECRET", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, arn in arns.items():
        monkeypatch.setenv(name, arn)
    reset_settings()
    yield arns
    reset_settings()


def test_settings_read_the_secrets_named_by_arn(secret_env):
    from chalicelib.settings import get_settings

    s = get_settings()
    assert (s.call_token_secret, s.media_control_secret) == ("tok-123", "ctl-456")
    assert (s.twilio_account_sid, s.twilio_auth_token) == ("AC1", "at-789")


def test_a_plain_variable_wins_over_the_secret(secret_env, monkeypatch):
    from chalicelib.settings import get_settings, reset_settings

    monkeypatch.setenv("CALL_TOKEN_SECRET", "from-env")
    reset_settings()
    assert get_settings().call_token_secret == "from-env"
    assert get_settings().media_control_secret == "ctl-456"


def test_unset_twilio_fields_stay_unset(secret_env):
    from chalicelib.settings import get_settings, reset_settings

    sm = boto3.client("secretsmanager", region_name="us-east-1")
    sm.put_secret_value(SecretId=secret_env["TWILIO_SECRET_ARN"], SecretString='{"account_sid": "", "auth_token": "x"}')
    reset_settings()
    assert get_settings().twilio_account_sid is None and get_settings().twilio_auth_token == "x"


def test_no_arn_no_aws_call():
    from chalicelib.secrets import deployment_secrets

    assert deployment_secrets({}) == {}


def test_an_empty_plain_variable_does_not_hide_the_secret(secret_env, monkeypatch):
    from chalicelib.settings import get_settings, reset_settings

    monkeypatch.setenv("MEDIA_CONTROL_SECRET", "")
    reset_settings()
    assert get_settings().media_control_secret == "ctl-456"
