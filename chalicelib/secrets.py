"""Deployment secrets from Secrets Manager, named by ``*_SECRET_ARN`` variables (set by the CDK stack).

Locally nothing is set and settings read the plain variables (CALL_TOKEN_SECRET, ...). On AWS the Lambdas
get only the ARNs, so the values never appear in the function configuration; a plain variable still wins
(the media task gets them injected by ECS).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import cast

from chalicelib.aws import client

log = logging.getLogger("voice.secrets")

# Secret holding a plain string -> the setting's variable.
STRING_SECRETS = {"CALL_TOKEN_SECRET_ARN": "CALL_TOKEN_SECRET", "MEDIA_CONTROL_SECRET_ARN": "MEDIA_CONTROL_SECRET"}
# Secret holding JSON -> {json key: the setting's variable}.
JSON_SECRETS = {"TWILIO_SECRET_ARN": {"account_sid": "TWILIO_ACCOUNT_SID", "auth_token": "TWILIO_AUTH_TOKEN"}}
# The platform provider keys (JSON by provider), read per lookup by ``chalicelib.services.byok``.
PLATFORM_KEYS_SECRET_ARN = "PLATFORM_KEYS_SECRET_ARN"  # noqa: S105 - a variable name, not a secret
# Every variable naming a secret, and the setting variables each one supplies.
SECRET_ARN_VARIABLES: dict[str, tuple[str, ...]] = {
    **{arn: (variable,) for arn, variable in STRING_SECRETS.items()},
    **{arn: tuple(keys.values()) for arn, keys in JSON_SECRETS.items()},
    PLATFORM_KEYS_SECRET_ARN: (),
}


def deployment_secrets(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Variable name -> value for every ``*_SECRET_ARN`` present (empty when none is: no AWS call)."""
    env = os.environ if env is None else env
    wanted = [name for name in (*STRING_SECRETS, *JSON_SECRETS) if env.get(name)]
    if not wanted:
        return {}
    secretsmanager = client("secretsmanager")
    out: dict[str, str] = {}
    for name in wanted:
        raw = secretsmanager.get_secret_value(SecretId=env[name]).get("SecretString") or ""
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


def json_secret(secret_id: str, region: str | None = None) -> dict[str, str]:
    """A Secrets Manager secret holding a JSON object, as ``{key: value}`` (empty values dropped).

    A secret that is not a JSON object reads as empty (and is logged): the caller falls back.
    """
    raw = str(client("secretsmanager", region=region).get_secret_value(SecretId=secret_id).get("SecretString") or "{}")
    try:
        value: object = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        log.error("secret %s is not a JSON object; ignoring it", secret_id)
        return {}
    return {str(k): str(v) for k, v in cast("dict[object, object]", value).items() if v}
