"""pynamodb models: the one place that knows table layouts (see docs/architecture.md).

Tenant-owned tables use ``org_id`` as the hash key so that every read is scoped to one org and
a query can never cross tenants. No request path scans.
"""

from __future__ import annotations

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection, LocalSecondaryIndex
from pynamodb.models import Model

from chalicelib.storage.base import JSONMapAttribute, meta


# ---------------------------------------------------------------- organizations and keys
class OrgsByParentIndex(GlobalSecondaryIndex["OrgModel"]):
    class Meta:
        index_name = "by_parent"
        projection = AllProjection()

    parent_org_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class OrgModel(Model):
    Meta = meta("orgs")
    id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    parent_org_id = UnicodeAttribute(null=True)
    minutes_balance = NumberAttribute(default=0)
    # Minutes used in the month named by usage_month (YYYY-MM); reset lazily on the 1st.
    monthly_usage_minutes = NumberAttribute(default=0)
    usage_month = UnicodeAttribute(null=True)
    has_local_models_access = BooleanAttribute(default=False)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    by_parent = OrgsByParentIndex()


class KeysByPrefixIndex(GlobalSecondaryIndex["ApiKeyModel"]):
    class Meta:
        index_name = "by_prefix"
        projection = AllProjection()

    key_prefix = UnicodeAttribute(hash_key=True)


class KeysByOrgIndex(GlobalSecondaryIndex["ApiKeyModel"]):
    class Meta:
        index_name = "by_org"
        projection = AllProjection()

    org_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class ApiKeyModel(Model):
    """An API key, stored only as the SHA-256 of the key."""

    Meta = meta("api_keys")
    key_hash = UnicodeAttribute(hash_key=True)
    key_prefix = UnicodeAttribute()
    org_id = UnicodeAttribute()
    created_at = UnicodeAttribute()
    revoked_at = UnicodeAttribute(null=True)
    by_prefix = KeysByPrefixIndex()
    by_org = KeysByOrgIndex()


class RateLimitModel(Model):
    """Per-window request counters: ``bucket`` = ``<scope>#<window start>``; expired by TTL."""

    Meta = meta("rate_limits")
    bucket = UnicodeAttribute(hash_key=True)
    hits = NumberAttribute(default=0, attr_name="count")  # not ``count``: that is Model.count()
    expires = TTLAttribute()


# ---------------------------------------------------------------- tenant-owned configuration
# Document tables list in creation order through an LSI on (org_id, created_at): paged queries,
# no in-memory sort, and the cursor is the index's LastEvaluatedKey.
class AssistantsByCreatedIndex(LocalSecondaryIndex["AssistantModel"]):
    class Meta:
        index_name = "by_created"
        projection = AllProjection()

    org_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class ToolTemplatesByCreatedIndex(LocalSecondaryIndex["ToolTemplateModel"]):
    class Meta:
        index_name = "by_created"
        projection = AllProjection()

    org_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class AnalysisTemplatesByCreatedIndex(LocalSecondaryIndex["AnalysisTemplateModel"]):
    class Meta:
        index_name = "by_created"
        projection = AllProjection()

    org_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class AssistantModel(Model):
    Meta = meta("assistants")
    org_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    data = JSONMapAttribute()  # every assistant field except id, secrets and timestamps
    # Envelope-encrypted secrets, never returned: {"webhook_secret": ..., "tool:<name>": ...}
    secrets_enc = JSONMapAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    by_created = AssistantsByCreatedIndex()


class ToolTemplateModel(Model):
    Meta = meta("tool_templates")
    org_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    data = JSONMapAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    by_created = ToolTemplatesByCreatedIndex()


class AnalysisTemplateModel(Model):
    Meta = meta("analysis_templates")
    org_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    data = JSONMapAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    by_created = AnalysisTemplatesByCreatedIndex()


class NumberModel(Model):
    Meta = meta("numbers")
    org_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    phone_number = UnicodeAttribute()
    data = JSONMapAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()


class NumberClaimModel(Model):
    """Deployment-wide uniqueness of E.164 numbers and the inbound routing lookup (one GetItem)."""

    Meta = meta("number_claims")
    phone_number = UnicodeAttribute(hash_key=True)
    org_id = UnicodeAttribute()
    number_id = UnicodeAttribute()
    # Copy of the number row (data + timestamps), written in the same transactions as the number,
    # so inbound routing is a single GetItem.
    route = JSONMapAttribute(null=True)


class SipTrunkModel(Model):
    Meta = meta("sip_trunks")
    org_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    data = JSONMapAttribute()
    password_enc = UnicodeAttribute(null=True)
    # How many numbers use this trunk for transfers; kept in the same transactions as the numbers,
    # so a trunk in use cannot be deleted (conditional delete on 0) without a read-then-write race.
    numbers_in_use = NumberAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()


class ByokKeyModel(Model):
    Meta = meta("byok_keys")
    org_id = UnicodeAttribute(hash_key=True)
    provider = UnicodeAttribute(range_key=True)
    secret_id = UnicodeAttribute()
    ciphertext = UnicodeAttribute()  # envelope: encrypted data key + AES-GCM nonce + ciphertext
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()


class DomainModel(Model):
    Meta = meta("domains")
    org_id = UnicodeAttribute(hash_key=True)
    data = JSONMapAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()


# ---------------------------------------------------------------- calls and activity
class CallsByCreatedIndex(LocalSecondaryIndex["CallModel"]):
    class Meta:
        index_name = "by_created"
        projection = AllProjection()

    org_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class CallsByTwilioSidIndex(GlobalSecondaryIndex["CallModel"]):
    class Meta:
        index_name = "by_twilio_sid"
        projection = KeysOnlyProjection()

    twilio_call_sid = UnicodeAttribute(hash_key=True)


class CallsByHeartbeatIndex(GlobalSecondaryIndex["CallModel"]):
    """Live calls by last heartbeat (sparse: only rows with ``live_shard``), for the reaper."""

    class Meta:
        index_name = "by_heartbeat"
        projection = KeysOnlyProjection()

    live_shard = UnicodeAttribute(hash_key=True)
    heartbeat_at = UnicodeAttribute(range_key=True)


class CallModel(Model):
    Meta = meta("calls")
    org_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    status = UnicodeAttribute()
    direction = UnicodeAttribute()
    twilio_call_sid = UnicodeAttribute(null=True)
    # Highest Twilio status-callback SequenceNumber applied (ordering / replay protection).
    status_sequence = NumberAttribute(default=-1)
    data = JSONMapAttribute()  # everything else of the Call object (config, transcript, latency ...)
    # Copies of data's assistant_id and campaign_id (data is one JSON string): GET /calls filters on them.
    assistant_id = UnicodeAttribute(null=True)
    campaign_id = UnicodeAttribute(null=True)
    # Set only while the call is in progress ("live#<n>", a few shards so no index partition runs hot)
    # with the holder's last heartbeat: the reaper finds calls whose media task stopped.
    live_shard = UnicodeAttribute(null=True)
    heartbeat_at = UnicodeAttribute(null=True)
    by_created = CallsByCreatedIndex()
    by_twilio_sid = CallsByTwilioSidIndex()
    by_heartbeat = CallsByHeartbeatIndex()


class GreetingModel(Model):
    """A call's ring-time greeting audio (mu-law 8 kHz), for whichever media task gets the stream.

    Short-lived: written at prepare, deleted when the call starts, expired by TTL otherwise (DynamoDB's
    TTL deletes lazily, so readers also check ``expires``). Items stay under DynamoDB's 400 KB limit.
    """

    Meta = meta("greetings")
    org_id = UnicodeAttribute(hash_key=True)
    call_id = UnicodeAttribute(range_key=True)
    fingerprint = UnicodeAttribute()  # hash of the text and voice it was synthesized from
    audio = BinaryAttribute(legacy_encoding=False)
    expires = TTLAttribute()


class CampaignModel(Model):
    Meta = meta("campaigns")
    org_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    status = UnicodeAttribute()
    data = JSONMapAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    # Top-level numbers so the campaign run can use them in conditions and atomic ADDs:
    # run generation (one active execution), dial slots in use, and exact lead counters.
    generation = NumberAttribute(default=0)
    in_flight = NumberAttribute(default=0)
    max_concurrent_calls = NumberAttribute(default=5)
    dials = NumberAttribute(default=0)
    total_leads = NumberAttribute(default=0)
    completed_leads = NumberAttribute(default=0)
    failed_leads = NumberAttribute(default=0)


class LeadsByStatusIndex(GlobalSecondaryIndex["LeadModel"]):
    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    campaign_status = UnicodeAttribute(hash_key=True)  # "<org_id>#<campaign_id>#<status>"
    next_attempt_at = UnicodeAttribute(range_key=True)


class LeadModel(Model):
    Meta = meta("leads")
    campaign_key = UnicodeAttribute(hash_key=True)  # "<org_id>#<campaign_id>"
    id = UnicodeAttribute(range_key=True)
    phone_number = UnicodeAttribute()
    status = UnicodeAttribute()
    campaign_status = UnicodeAttribute()
    next_attempt_at = UnicodeAttribute()
    attempts = NumberAttribute(default=0)
    # The current attempt's call and the campaign run's task token waiting for its outcome.
    call_id = UnicodeAttribute(null=True)
    task_token = UnicodeAttribute(null=True)
    data = JSONMapAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    by_status = LeadsByStatusIndex()


# ---------------------------------------------------------------- evals (test suites and runs)
class EvalSuitesByCreatedIndex(LocalSecondaryIndex["EvalSuiteModel"]):
    class Meta:
        index_name = "by_created"
        projection = AllProjection()

    org_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class EvalSuiteModel(Model):
    Meta = meta("test_suites")
    org_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    data = JSONMapAttribute()  # name, assistant_id, scenarios
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    by_created = EvalSuitesByCreatedIndex()


class EvalRunsBySuiteIndex(LocalSecondaryIndex["EvalRunModel"]):
    class Meta:
        index_name = "by_suite"
        projection = AllProjection()

    org_id = UnicodeAttribute(hash_key=True)
    suite_created = UnicodeAttribute(range_key=True)  # "<suite_id>#<created_at>"


class EvalRunModel(Model):
    Meta = meta("test_runs")
    org_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    suite_id = UnicodeAttribute()
    suite_created = UnicodeAttribute()
    status = UnicodeAttribute()  # queued | running | completed | failed
    data = JSONMapAttribute()  # the suite snapshot, variants, concurrency, repeat, summary, comparison
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    by_suite = EvalRunsBySuiteIndex()


class EvalResultModel(Model):
    """One scenario attempt of a run: written by that attempt's task alone (no shared row to race on)."""

    Meta = meta("test_results")
    run_key = UnicodeAttribute(hash_key=True)  # "<org_id>#<run_id>"
    id = UnicodeAttribute(range_key=True)  # zero-padded item index: results list in run order
    data = JSONMapAttribute()
    created_at = UnicodeAttribute()


class UsageModel(Model):
    Meta = meta("usage")
    org_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)  # "<created_at>#<id>": newest-first date-range queries
    id = UnicodeAttribute()
    data = JSONMapAttribute()
    created_at = UnicodeAttribute()


class WebhookDeliveryModel(Model):
    Meta = meta("webhook_deliveries")
    org_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    call_id = UnicodeAttribute(null=True)
    event = UnicodeAttribute()
    status = UnicodeAttribute()  # held | pending | delivered | failed (counter rows: "counter")
    data = JSONMapAttribute()  # url, payload, attempts[]
    # Per-call event number; on the call's counter row (id "seq#<call_id>") the last number handed out.
    sequence = NumberAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()


class IdempotencyModel(Model):
    """Layout of the Powertools idempotency table (Powertools writes it through boto3)."""

    Meta = meta("idempotency")
    id = UnicodeAttribute(hash_key=True)
    expiration = TTLAttribute(null=True)


ALL_MODELS: tuple[type[Model], ...] = (
    OrgModel,
    ApiKeyModel,
    RateLimitModel,
    AssistantModel,
    ToolTemplateModel,
    AnalysisTemplateModel,
    NumberModel,
    NumberClaimModel,
    SipTrunkModel,
    ByokKeyModel,
    DomainModel,
    CallModel,
    GreetingModel,
    CampaignModel,
    LeadModel,
    EvalSuiteModel,
    EvalRunModel,
    EvalResultModel,
    UsageModel,
    WebhookDeliveryModel,
    IdempotencyModel,
)

# Attributes holding a TTL, per model (create_tables turns TTL on for them).
TTL_ATTRIBUTES = {RateLimitModel: "expires", IdempotencyModel: "expiration", GreetingModel: "expires"}


def create_tables(wait: bool = False) -> list[str]:
    """Create every table that does not exist yet (local stack and tests). Returns created names."""
    created = []
    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=wait)
            created.append(model.Meta.table_name)
    return created
