"""Shared pieces of the pynamodb models. pynamodb never leaves ``chalicelib.storage``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

from pynamodb.attributes import Attribute
from pynamodb.constants import STRING

from chalicelib.aws import aws_region

if TYPE_CHECKING:
    from pynamodb.models import MetaProtocol
from chalicelib.settings import table_name


def meta(logical: str) -> MetaProtocol:
    """A pynamodb ``Meta`` class for a logical table: name from settings, on-demand billing.

    The endpoint comes from ``AWS_ENDPOINT_URL`` (honoured by botocore) so the same code runs
    against moto locally and DynamoDB on AWS.
    """

    class Meta:
        table_name = globals_table_name(logical)
        region = aws_region()
        billing_mode = "PAY_PER_REQUEST"
        max_retry_attempts = 3
        connect_timeout_seconds = 2
        read_timeout_seconds = 5

    return cast("MetaProtocol", Meta)  # pynamodb's model metaclass fills in the settings left out here


def globals_table_name(logical: str) -> str:
    return table_name(logical)


class JSONMapAttribute(Attribute[Any]):
    """Any JSON value stored as a compact string (configs, transcripts, free-form metadata).

    Stored as a string rather than a DynamoDB map so nested free-form keys (JSON schemas,
    metadata) keep their exact shape and types.
    """

    attr_type = STRING

    def serialize(self, value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    def deserialize(self, value: str) -> Any:
        return json.loads(value)


def is_condition_failure(exc: Exception) -> bool:
    """True when a pynamodb write failed only because its condition did not hold."""
    cause = getattr(exc, "cause_response_code", None)
    return cause in {"ConditionalCheckFailedException", "TransactionCanceledException"}
