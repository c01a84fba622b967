"""Where the platform's AWS clients point and how they are built (the lowest layer; settings and secrets use it)."""

from __future__ import annotations

import os
from typing import Any


def aws_region() -> str:
    """The deployment's region: ``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else us-east-1."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def client(service: str, *, region: str | None = None, **config: Any) -> Any:
    """A boto3 client (the boundary to boto3, which ships no type stubs: callers get ``Any``).

    ``config`` becomes a ``botocore.config.Config`` (``signature_version``, ``retries``, ...).
    ``AWS_ENDPOINT_URL`` (moto, LocalStack) is honoured by boto3 itself.
    """
    import boto3
    from botocore.config import Config

    return boto3.client(service, region_name=region or aws_region(), config=Config(**config) if config else None)
