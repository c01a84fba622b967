"""DynamoDB tables generated from the pynamodb models themselves (chalicelib.storage.tables).

The models are the single definition of keys, attribute types and indexes: this module reads the same
schema pynamodb uses for ``create_table`` so the deployed tables cannot drift from the code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from infra.config import StageConfig

_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER, "B": dynamodb.AttributeType.BINARY}


@dataclass(frozen=True)
class IndexSpec:
    name: str
    hash_key: tuple[str, str] | None  # (attribute, type); None for an LSI (the table's hash key)
    range_key: tuple[str, str] | None
    projection: str  # ALL | KEYS_ONLY | INCLUDE
    non_key_attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableSpec:
    logical: str
    hash_key: tuple[str, str]
    range_key: tuple[str, str] | None
    ttl_attribute: str | None
    gsis: tuple[IndexSpec, ...] = field(default=())
    lsis: tuple[IndexSpec, ...] = field(default=())

    @property
    def env_var(self) -> str:
        """The variable chalicelib.settings.table_name() reads."""
        return f"TABLE_{self.logical.upper()}"


def logical_name(model: Any, logical_names: tuple[str, ...]) -> str:
    """The logical table name of a model (its Meta.table_name is prefix + logical, read at import time)."""
    physical = model.Meta.table_name
    matches = [name for name in logical_names if physical.endswith(name)]
    if not matches:
        raise ValueError(f"model {model.__name__}: table {physical!r} matches no name in settings.TABLE_NAMES")
    return max(matches, key=len)


def _keys(schema_keys: Sequence[Mapping[str, Any]],
          types: dict[str, str]) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
    hash_key: tuple[str, str] | None = None
    range_key: tuple[str, str] | None = None
    for key in schema_keys:
        pair = (key["AttributeName"], types[key["AttributeName"]])
        if key["KeyType"] == "HASH":
            hash_key = pair
        else:
            range_key = pair
    return hash_key, range_key


def _index(raw: Mapping[str, Any], types: dict[str, str], local: bool) -> IndexSpec:
    hash_key, range_key = _keys(raw["key_schema"], types)
    projection = raw["projection"]
    return IndexSpec(name=raw["index_name"], hash_key=None if local else hash_key, range_key=range_key,
                     projection=projection["ProjectionType"],
                     non_key_attributes=tuple(projection.get("NonKeyAttributes", ())))


def table_specs() -> list[TableSpec]:
    """One spec per pynamodb model, from the model's own create-table schema."""
    from chalicelib.settings import TABLE_NAMES
    from chalicelib.storage.tables import ALL_MODELS, TTL_ATTRIBUTES

    specs = []
    for model in ALL_MODELS:
        schema = model._get_schema()  # exactly what pynamodb sends to CreateTable
        types = {a["AttributeName"]: a["AttributeType"] for a in schema["attribute_definitions"]}
        for raw in schema["global_secondary_indexes"] + schema["local_secondary_indexes"]:
            types.update({a["AttributeName"]: a["AttributeType"] for a in raw.get("attribute_definitions", ())})
        hash_key, range_key = _keys(schema["key_schema"], types)
        if hash_key is None:
            raise ValueError(f"model {model.__name__}: its key schema has no HASH key")
        ttl = TTL_ATTRIBUTES.get(model)
        if ttl is not None:
            ttl = model.get_attributes()[ttl].attr_name
        specs.append(TableSpec(
            logical=logical_name(model, TABLE_NAMES), hash_key=hash_key, range_key=range_key, ttl_attribute=ttl,
            gsis=tuple(_index(raw, types, local=False) for raw in schema["global_secondary_indexes"]),
            lsis=tuple(_index(raw, types, local=True) for raw in schema["local_secondary_indexes"]),
        ))
    names = [s.logical for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"two models map to one table: {sorted(names)}")
    return specs


def _attr(pair: tuple[str, str] | None) -> dynamodb.Attribute:
    if pair is None:  # a GSI always has a hash key, an LSI a range key: the model is broken
        raise ValueError("index key missing from the model's schema")
    return dynamodb.Attribute(name=pair[0], type=_TYPES[pair[1]])


def _projection(spec: IndexSpec) -> dict[str, Any]:
    kind = {"ALL": dynamodb.ProjectionType.ALL, "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY,
            "INCLUDE": dynamodb.ProjectionType.INCLUDE}[spec.projection]
    out: dict[str, Any] = {"projection_type": kind}
    if spec.non_key_attributes:
        out["non_key_attributes"] = list(spec.non_key_attributes)
    return out


class Tables(Construct):
    """Every table: on-demand, point-in-time recovery, TTL where the model has one; retained in prod."""

    def __init__(self, scope: Construct, id: str, *, config: StageConfig) -> None:
        super().__init__(scope, id)
        self.specs = table_specs()
        self.tables: dict[str, dynamodb.Table] = {}
        removal = cdk.RemovalPolicy.RETAIN if config.retain_data else cdk.RemovalPolicy.DESTROY
        for spec in self.specs:
            construct_id = "".join(part.capitalize() for part in spec.logical.split("_"))
            table = dynamodb.Table(
                self, construct_id,
                table_name=config.table_name(spec.logical),
                partition_key=_attr(spec.hash_key),
                sort_key=_attr(spec.range_key) if spec.range_key else None,
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=config.point_in_time_recovery),
                deletion_protection=config.deletion_protection,
                time_to_live_attribute=spec.ttl_attribute,
                encryption=dynamodb.TableEncryption.AWS_MANAGED,
                removal_policy=removal,
            )
            for gsi in spec.gsis:
                table.add_global_secondary_index(
                    index_name=gsi.name, partition_key=_attr(gsi.hash_key),
                    sort_key=_attr(gsi.range_key) if gsi.range_key else None, **_projection(gsi))
            for lsi in spec.lsis:
                table.add_local_secondary_index(index_name=lsi.name, sort_key=_attr(lsi.range_key), **_projection(lsi))
            self.tables[spec.logical] = table

    def environment(self) -> dict[str, str]:
        """``TABLE_<LOGICAL>`` -> physical name, for the Lambdas and the media task."""
        return {spec.env_var: self.tables[spec.logical].table_name for spec in self.specs}
