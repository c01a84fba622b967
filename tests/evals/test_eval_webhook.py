"""``test-run.completed`` goes through the recorded, retried delivery path of status-update
(chalicelib/webhooks/delivery.py): a failing receiver gets the same signed bytes again from the
delay queue, every attempt is recorded, and the body matches the OpenAPI ``webhooks`` section."""

from __future__ import annotations

import json

from sandbox.webhook_receiver import verify_signature
from tests.calls.test_webhooks import _drain
from tests.evals.test_evals_api import SCRIPTED
from tests.workflows.conftest import WEBHOOK_SECRET, make_assistant


def _subscriber(api, receiver, events=("test-run.completed",)):
    return make_assistant(api, webhook_url=receiver.url(), webhook_events=list(events), webhook_secret=WEBHOOK_SECRET)


def _run(api, assistant_id: str):
    """A stored run of a one-scenario suite (no workflow here: the run fails to start, which is fine)."""
    from chalicelib.services.evals import runs

    suite = api.post("/test-suites", {"name": "S", "assistant_id": assistant_id, "scenarios": [SCRIPTED]})
    assert suite.status_code == 201, suite.body
    r = api.post(f"/test-suites/{suite.data['test_suite']['id']}/runs", {})
    assert r.status_code == 202, r.body
    run = runs().get(r.data["test_run"]["org_id"], r.data["test_run"]["id"])
    assert run is not None
    return run


def _send(run):
    from chalicelib.services.eval_webhook import send_run_completed
    from chalicelib.services.evals import public_run

    return send_run_completed(run, public_run(run))


def _stored(org_id: str, delivery_id: str):
    from chalicelib.storage.webhooks import WebhookDeliveryRepository

    delivery = WebhookDeliveryRepository().get(org_id, delivery_id)
    assert delivery is not None
    return delivery


def test_failing_receiver_gets_the_event_again_from_the_delay_queue(api, org, client, receiver, webhook_queue):
    a = _subscriber(api, receiver)
    run = _run(api, a["id"])
    receiver.fail_times = 1

    delivery = _send(run)
    assert delivery is not None and delivery.event == "test-run.completed" and delivery.call_id is None
    stored = _stored(org[0].id, delivery.id)
    assert stored.status == "pending" and stored.data["test_run_id"] == run.id
    assert [x["status_code"] for x in stored.data["attempts"]] == [500]

    assert _drain(webhook_queue, client) == 0  # DelaySeconds=1: not visible yet
    assert _drain(webhook_queue, client, wait=1.1) == 1
    stored = _stored(org[0].id, delivery.id)
    assert stored.status == "delivered" and [x["status_code"] for x in stored.data["attempts"]] == [500, 200]

    first, second = receiver.events("test-run.completed")
    assert first.body == second.body  # the same bytes, re-signed with a fresh timestamp
    assert second.signature_valid is True
    assert verify_signature(WEBHOOK_SECRET, second.headers["x-webhook-timestamp"], second.body,
                            second.headers["x-webhook-signature"])
    assert second.message["test_run"]["id"] == run.id and second.message["type"] == "test-run.completed"


def test_the_run_shows_its_delivery(api, org, receiver, webhook_queue, other_api):
    from chalicelib.models.evals import RunRef
    from chalicelib.services.evals import run_finish, runs

    run = _run(api, _subscriber(api, receiver)["id"])
    runs().set_status(org[0].id, run.id, "running", from_statuses=("failed",))  # as if its workflow ran
    receiver.fail_times = 1
    run_finish(RunRef(org_id=org[0].id, run_id=run.id))
    got = api.get(f"/test-runs/{run.id}").data["test_run"]
    assert got["status"] == "completed" and got["webhook"]["status"] == "pending"
    assert [x["status_code"] for x in got["webhook"]["attempts"]] == [500]
    assert got["webhook"]["last_error"] == "HTTP 500"
    assert other_api.get(f"/test-runs/{run.id}").status_code == 404


def test_receiver_that_never_accepts_leaves_a_failed_delivery(api, org, client, receiver, webhook_queue):
    from chalicelib.storage.webhooks import WebhookDeliveryRepository

    a = _subscriber(api, receiver)
    receiver.fail_times = 100
    delivery = _send(_run(api, a["id"]))
    assert delivery is not None and delivery.status == "pending"
    stored = _stored(org[0].id, delivery.id)
    stored.data["first_attempt_at"] -= 14 * 60 + 58  # jump to the end of the 15-minute window
    stored.data["next_attempt_at"] = stored.data["first_attempt_at"]
    WebhookDeliveryRepository().save(stored)
    assert _drain(webhook_queue, client, wait=1.1) == 1
    stored = _stored(org[0].id, delivery.id)
    assert stored.status == "failed" and stored.data["last_error"] == "HTTP 500" and len(stored.data["attempts"]) == 2
    assert len(receiver.events("test-run.completed")) == 2
    assert _drain(webhook_queue, client, wait=0.1) == 0


def test_a_rejected_event_is_not_retried(api, org, client, receiver, webhook_queue):
    a = _subscriber(api, receiver)
    receiver.fail_times, receiver.fail_status = 1, 400
    delivery = _send(_run(api, a["id"]))
    assert delivery is not None and delivery.status == "failed" and delivery.data["last_error"] == "HTTP 400"
    assert _drain(webhook_queue, client, wait=1.1) == 0


def test_not_sent_when_the_assistant_does_not_subscribe(api, org, receiver, webhook_queue):
    from chalicelib.storage.webhooks import WebhookDeliveryRepository

    a = _subscriber(api, receiver, events=["status-update"])
    assert _send(_run(api, a["id"])) is None
    assert receiver.events() == [] and WebhookDeliveryRepository().list(org[0].id) == []


def test_body_matches_the_openapi_webhooks_section(api, org, client, receiver, webhook_queue):
    from jsonschema import Draft202012Validator

    doc = json.loads(client.http.get("/api/v1/openapi.json").body)
    op = doc["webhooks"]["test-run.completed"]["post"]
    schema = {**op["requestBody"]["content"]["application/json"]["schema"], "components": doc["components"]}
    a = _subscriber(api, receiver)
    _send(_run(api, a["id"]))
    [event] = receiver.events("test-run.completed")
    errs = list(Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
                .iter_errors(event.json))
    assert not errs, [e.message for e in errs]


def test_a_run_too_large_to_keep_is_sent_without_its_results(api, org, receiver, webhook_queue):
    """Every result row of a big run (many scenarios x repeats with long reasoning) would exceed what a
    delivery row can keep for retries: the event goes without results and says so."""
    from chalicelib.services.evals import public_run, results
    from chalicelib.storage.webhooks import WebhookDeliveryRepository

    run = _run(api, _subscriber(api, receiver)["id"])
    reasoning = "The assistant offered a slot but " + "x" * 2000
    for index in range(200):
        results().put(org[0].id, run.id, index, {"index": index, "scenario": "S", "passed": False,
                                                 "criteria": [{"criterion": "c", "passed": False,
                                                               "reasoning": reasoning}]})
    assert len(public_run(run)["results"]) == 200
    delivery = _send(run)
    assert delivery is not None and delivery.status == "delivered"
    [event] = receiver.events("test-run.completed")
    sent = event.message["test_run"]
    assert "results" not in sent and sent["results_omitted"] is True and sent["id"] == run.id
    assert len(event.body) < 300_000
    stored = WebhookDeliveryRepository().get(org[0].id, delivery.id)
    assert stored is not None and stored.data["body"] == event.body.decode()
