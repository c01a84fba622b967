"""Shared by the benchmarks: count DynamoDB requests per operation and table, and percentiles.

Every botocore DynamoDB client created after ``install()`` (pynamodb makes its own) records one
entry per request in ``CALLS``: ``(operation, "+"-joined logical table names)``. A transaction over
three tables is one entry, as it is one request.
"""

from __future__ import annotations

import os

import botocore.session

CALLS: list[tuple[str, str]] = []


def offline_aws_env(table_prefix: str = "bench-", *, drop: tuple[str, ...] = (), **extra: str) -> None:
    """Point the process at embedded AWS only: dummy credentials, no endpoint override, tracing and metrics
    off. Call before importing the app (settings are read at first use)."""
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "TABLE_PREFIX": table_prefix,
                       "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true",
                       "STAGE": "bench", **extra})
    for name in ("AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_PROFILE", *drop):
        os.environ.pop(name, None)
_prefix = {"value": ""}


def _record(model=None, params=None, **_kw) -> None:
    params = params or {}
    if "TableName" in params:
        tables = [params["TableName"]]
    elif "RequestItems" in params:
        tables = list(params["RequestItems"])
    elif "TransactItems" in params:
        tables = [next(iter(i.values()))["TableName"] for i in params["TransactItems"]]
    else:
        tables = ["?"]
    CALLS.append((model.name if model is not None else "?",
                  "+".join(sorted({t.removeprefix(_prefix["value"]) for t in tables}))))


def install(table_prefix: str) -> None:
    """Hook every DynamoDB client created from now on; table names are reported without the prefix."""
    _prefix["value"] = table_prefix
    original = botocore.session.Session.create_client
    if getattr(original, "_counts_dynamodb", False):
        return

    def create_client(self, service_name, *args, **kwargs):
        client = original(self, service_name, *args, **kwargs)
        if service_name == "dynamodb":
            client.meta.events.register("before-parameter-build.dynamodb", _record)
        return client

    create_client._counts_dynamodb = True  # type: ignore[attr-defined]
    botocore.session.Session.create_client = create_client


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile of ``values`` (p in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))]
