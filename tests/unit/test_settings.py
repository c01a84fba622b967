"""chalicelib.settings.Settings read from the environment (pydantic-settings): names, parsing, failures."""

from __future__ import annotations

import pytest
from pydantic import ValidationError


@pytest.fixture
def settings(monkeypatch):
    from chalicelib.settings import get_settings, reset_settings

    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "PUBLIC_BASE_URL", "KMS_KEY_ID", "EVAL_JUDGE",
                 "BILLING_ENFORCEMENT", "RATE_LIMIT_PER_MINUTE", "STAGE"):
        monkeypatch.delenv(name, raising=False)

    def read(**env: str):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        reset_settings()
        return get_settings()

    yield read
    reset_settings()


def test_each_field_reads_its_upper_case_variable(settings):
    s = settings(STAGE="prod", RATE_LIMIT_PER_MINUTE="250", BILLING_ENFORCEMENT="true",
                 PUBLIC_BASE_URL="https://api.example.com/api/", EVAL_JUDGE=" Sandbox ")
    assert (s.stage, s.rate_limit_per_minute, s.billing_enforcement) == ("prod", 250, True)
    assert s.public_base_url == "https://api.example.com/api"  # callbacks append /twilio/...
    assert s.eval_judge == "sandbox"


def test_region_comes_from_the_aws_variables_the_runtime_sets(settings):
    assert settings(AWS_DEFAULT_REGION="eu-central-1").region == "eu-central-1"
    assert settings(AWS_REGION="eu-west-1").region == "eu-west-1"  # the Lambda runtime's own wins


def test_an_empty_variable_counts_as_unset(settings):
    s = settings(KMS_KEY_ID="", STAGE="")
    assert (s.kms_key_id, s.stage) == (None, "dev")


@pytest.mark.parametrize(("name", "value"), [("RATE_LIMIT_PER_MINUTE", "lots"), ("RATE_LIMIT_PER_MINUTE", "0"),
                                             ("BILLING_ENFORCEMENT", "maybe"), ("EVAL_JUDGE", "human")])
def test_a_bad_value_fails_naming_the_setting(settings, name, value):
    from chalicelib.settings import SettingsRefused

    with pytest.raises(SettingsRefused) as exc:  # a deployment's mistake (500), never pydantic's error (400)
        settings(**{name: value})
    assert name.lower() in str(exc.value)


def test_settings_are_read_once_and_frozen(settings, monkeypatch):
    from chalicelib.settings import get_settings

    first = settings(STAGE="prod")
    monkeypatch.setenv("STAGE", "other")
    assert get_settings() is first and get_settings().stage == "prod"
    with pytest.raises(ValidationError):
        first.stage = "changed"  # pyright: ignore[reportAttributeAccessIssue] - frozen model: the point of the test


def test_a_lambda_refuses_the_local_development_secrets(settings, monkeypatch):
    for name in ("CALL_TOKEN_SECRET", "MEDIA_CONTROL_SECRET", "LOCAL_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    from chalicelib.settings import SettingsRefused

    with pytest.raises(SettingsRefused) as exc:
        settings(AWS_LAMBDA_FUNCTION_NAME="voice-prod-APIHandler")
    message = str(exc.value)
    for name in ("CALL_TOKEN_SECRET (or CALL_TOKEN_SECRET_ARN)", "MEDIA_CONTROL_SECRET", "KMS_KEY_ID"):
        assert name in message
    s = settings(CALL_TOKEN_SECRET="t" * 32, MEDIA_CONTROL_SECRET="m" * 32, KMS_KEY_ID="arn:aws:kms:eu-west-1:1:key/k")
    assert s.aws_lambda_function_name == "voice-prod-APIHandler"


def test_outside_lambda_the_local_defaults_are_fine(settings, monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    assert settings().call_token_secret == "local-call-token-secret"  # noqa: S105 - the default under test
