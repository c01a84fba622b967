"""Where the platform's AWS clients point: the region (the lowest layer; settings and secrets both use it)."""

from __future__ import annotations

import os


def aws_region() -> str:
    """The deployment's region: ``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else us-east-1."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
