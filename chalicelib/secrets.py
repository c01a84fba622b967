"""Deployment secrets from Secrets Manager, named by ``*_SECRET_ARN`` variables (set by the CDK stack).

Locally nothing is set and settings read the plain variables (CALL_TOKEN_SECRET, ...). On AWS the Lambdas
get only the ARNs, so the values never appear in the function configuration; a plain variable still wins
(the media task gets them injected by ECS).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from chalicelib.aws import aws_region

# Secret holding a plain string -> the setting's variable.
STRING_SECRETS = {"CALL_TOKEN_SECRET_ARN": "CALL_TOKEN_SECRET", "MEDIA_CONTROL_SECRET_ARN": "MEDIA_CONTROL_SECRET"}
# Secret holding JSON -> {json key: the setting's variable}.
JSON_SECRETS = {"TWILIO_SECRET_ARN": {"account_sid": "TWILIO_ACCOUNT_SID", "auth_token": "TWILIO_AUTH_TOKEN"}}


def deployment_secrets(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Variable name -> value for every ``*_SECRET_ARN`` present (empty when none is: no AWS call)."""
    env = os.environ if env is None else env
    wanted = [name for name in (*STRING_SECRETS, *JSON_SECRETS) if env.get(name)]
    if not wanted:
        return {}
    import boto3

    client = boto3.client("secretsmanager", region_name=aws_region())
    out: dict[str, str] = {}
    for name in wanted:
        raw = client.get_secret_value(SecretId=env[name]).get("SecretString") or ""
        if name in STRING_SECRETS:
            out[STRING_SECRETS[name]] = raw
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            value = {}
        for key, variable in JSON_SECRETS[name].items():
            if isinstance(value, dict) and value.get(key):
                out[variable] = str(value[key])
    return out
