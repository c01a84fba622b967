"""/numbers: E.164 validation, deployment-wide uniqueness, assignment, Twilio configuration, isolation."""

from __future__ import annotations

import threading

from chalicelib.storage.tables import NumberClaimModel, NumberModel, SipTrunkModel

NL = "+31201234567"


def test_create_number_returns_201_with_names_and_source(api, assistant, trunk):
    r = api.post("/numbers", {"phone_number": NL, "name": "Front desk", "agent_id": assistant["id"],
                              "transfer_trunk_id": trunk["id"]})
    assert r.status_code == 201, r.body
    n = r.data["number"]
    assert n["phone_number"] == NL and n["name"] == "Front desk" and n["is_active"] is True
    assert n["agent_id"] == assistant["id"] and n["agent_name"] == "Receptionist"
    assert n["business_name"] == "Acme Dental"
    assert n["transfer_trunk_id"] == trunk["id"] and n["transfer_trunk_name"] == "Office PBX"
    assert n["source"] == "sip_forwarding"
    assert n["created_at"].endswith("Z")
    claim = NumberClaimModel.get(NL)
    assert (claim.org_id, claim.number_id) == (n["org_id"], n["id"])
    assert SipTrunkModel.get(n["org_id"], trunk["id"]).numbers_in_use == 1


def test_number_alias_and_normalisation(api, assistant):
    r = api.post("/numbers", {"number": "+31 20 123 4567", "assistantId": assistant["id"], "isActive": True})
    assert r.status_code == 201, r.body
    assert r.data["number"]["phone_number"] == NL
    assert r.data["number"]["agent_id"] == assistant["id"]


def test_validation_errors(api):
    for body, param in [
        ({"phone_number": "0201234567"}, "phone_number"),
        ({"phone_number": "+999123"}, "phone_number"),
        ({"phone_number": NL, "agent_id": "not-a-uuid"}, "agent_id"),
        ({"phone_number": NL, "frist_name": "x"}, "frist_name"),
        ({"phone_number": NL, "is_active": "maybe"}, "is_active"),
        ({"phone_number": NL, "name": "x" * 201}, "name"),
    ]:
        r = api.post("/numbers", body)
        assert r.status_code == 400, (body, r.body)
        assert r.data["param"] == param, (body, r.data)
    r = api.post("/numbers", {"name": "no number"})
    assert r.status_code == 400 and r.data["error"] == "missing_field" and r.data["param"] == "phone_number"
    r = api.post("/numbers", {"phone_number": NL, "number": "+31207654321"})
    assert r.status_code == 400 and "disagree" in r.data["message"]
    assert api.get("/numbers").data == {"numbers": [], "next_cursor": None}


def test_unknown_or_foreign_agent_and_trunk_are_404(api, other_api):
    foreign_agent = other_api.post("/assistants", {"name": "Theirs"}).data["assistant"]["id"]
    foreign_trunk = other_api.post("/sip-trunks", {"name": "T", "host": "sip.other.example"}).data["trunk"]["id"]
    r = api.post("/numbers", {"phone_number": NL, "agent_id": foreign_agent})
    assert r.status_code == 404 and r.data["param"] == "agent_id"
    r = api.post("/numbers", {"phone_number": NL, "transfer_trunk_id": foreign_trunk})
    assert r.status_code == 404 and r.data["param"] == "transfer_trunk_id"
    # Nothing was claimed by the failed attempts.
    assert NumberClaimModel.count() == 0


def test_second_org_gets_409_and_same_org_too(api, other_api):
    assert api.post("/numbers", {"phone_number": NL}).status_code == 201
    r = other_api.post("/numbers", {"phone_number": NL})
    assert r.status_code == 409 and r.data["error"] == "conflict"
    assert api.post("/numbers", {"phone_number": NL}).status_code == 409
    assert other_api.get("/numbers").data["numbers"] == []


def test_uniqueness_race_between_two_orgs(org, other_org, monkeypatch):
    """Both orgs finish every read and reach the write together: exactly one wins, the other gets 409.

    The barrier sits right before the transaction, so a read-then-write check would let both through.
    moto has no lock of its own, so a lock around its TransactWriteItems stands in for DynamoDB's
    serializable transactions (the property the code relies on)."""
    from moto.dynamodb.models import DynamoDBBackend

    from chalicelib import errors
    from chalicelib.models.resources import NumberCreate
    from chalicelib.services import numbers
    from chalicelib.storage.numbers import NumberRepository

    atomic = threading.Lock()
    transact = DynamoDBBackend.transact_write_items

    def serialized(self, *args, **kwargs):
        with atomic:
            return transact(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", serialized)
    barrier = threading.Barrier(2)
    create = NumberRepository.create

    def create_after_barrier(self, rec):
        barrier.wait(timeout=10)
        return create(self, rec)

    monkeypatch.setattr(NumberRepository, "create", create_after_barrier)
    results: dict[str, str] = {}

    def register(org_id: str) -> None:
        try:
            numbers.create_number(org_id, NumberCreate(phone_number=NL))
            results[org_id] = "created"
        except errors.Conflict:
            results[org_id] = "conflict"

    threads = [threading.Thread(target=register, args=(o[0].id,)) for o in (org, other_org)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == ["conflict", "created"]
    winner = next(o for o, r in results.items() if r == "created")
    assert NumberClaimModel.get(NL).org_id == winner
    loser = next(o for o in results if o != winner)
    assert list(NumberModel.query(loser)) == [] and len(list(NumberModel.query(winner))) == 1


def test_get_list_patch_delete(api, assistant, trunk):
    n = api.post("/numbers", {"phone_number": NL, "agent_id": assistant["id"]}).data["number"]
    assert api.get(f"/numbers/{n['id']}").data["number"]["agent_name"] == "Receptionist"
    assert [x["id"] for x in api.get("/numbers").data["numbers"]] == [n["id"]]

    r = api.patch(f"/numbers/{n['id']}", {"transfer_trunk_id": trunk["id"], "is_active": False, "name": "Main"})
    assert r.status_code == 200, r.body
    assert r.data["number"]["transfer_trunk_name"] == "Office PBX" and r.data["number"]["is_active"] is False
    assert SipTrunkModel.get(n["org_id"], trunk["id"]).numbers_in_use == 1

    # Names are resolved live: renaming the assistant shows up on the number.
    api.patch(f"/assistants/{assistant['id']}", {"name": "Night desk"})
    assert api.get(f"/numbers/{n['id']}").data["number"]["agent_name"] == "Night desk"

    r = api.patch(f"/numbers/{n['id']}", {"agent_id": None, "transfer_trunk_id": None})
    assert r.data["number"]["agent_id"] is None and r.data["number"]["agent_name"] is None
    assert r.data["number"]["transfer_trunk_id"] is None
    assert SipTrunkModel.get(n["org_id"], trunk["id"]).numbers_in_use == 0

    assert api.patch(f"/numbers/{n['id']}", {"phone_number": "+31201111111"}).status_code == 400
    assert api.patch(f"/numbers/{n['id']}", {"is_active": None}).status_code == 400

    assert api.delete(f"/numbers/{n['id']}").data == {"success": True}
    assert api.get(f"/numbers/{n['id']}").status_code == 404
    assert NumberClaimModel.count() == 0
    # Released: the number can be registered again (by anyone).
    assert api.post("/numbers", {"phone_number": NL}).status_code == 201


def test_tenant_isolation(api, other_api):
    n = api.post("/numbers", {"phone_number": NL}).data["number"]
    assert other_api.get(f"/numbers/{n['id']}").status_code == 404
    assert other_api.patch(f"/numbers/{n['id']}", {"name": "mine"}).status_code == 404
    assert other_api.delete(f"/numbers/{n['id']}").status_code == 404
    assert other_api.get("/numbers").data["numbers"] == []
    assert api.get(f"/numbers/{n['id']}").data["number"]["name"] is None
    assert api.get("/numbers/not-a-uuid").status_code == 404


def test_patch_to_foreign_agent_is_404(api, other_api):
    n = api.post("/numbers", {"phone_number": NL}).data["number"]
    foreign = other_api.post("/assistants", {"name": "Theirs"}).data["assistant"]["id"]
    r = api.patch(f"/numbers/{n['id']}", {"assistant_id": foreign})
    assert r.status_code == 404 and r.data["param"] == "agent_id"


def test_lookup_inbound_and_runtime_helpers(api, assistant, org):
    from chalicelib.services import numbers

    n = api.post("/numbers", {"phone_number": NL, "agent_id": assistant["id"]}).data["number"]
    found = numbers.lookup_inbound(NL)
    assert found is not None
    assert found["id"] == n["id"] and found["org_id"] == org[0].id
    assert found["agent_id"] == assistant["id"] and found["is_active"] is True
    assert found["agent_name"] == "Receptionist" and found["transfer_trunk_id"] is None
    assert numbers.lookup_inbound("+31209999999") is None
    assert numbers.lookup_inbound("garbage") is None
    assert numbers.get_number(org[0].id, n["id"])["phone_number"] == NL
    active = numbers.any_active_number(org[0].id)
    assert active is not None and active["id"] == n["id"]
    api.patch(f"/numbers/{n['id']}", {"is_active": False, "agent_id": None, "name": "Closed"})
    assert numbers.any_active_number(org[0].id) is None
    # The routing copy on the claim follows every write of the number.
    found = numbers.lookup_inbound(NL)
    assert found is not None
    assert (found["is_active"], found["agent_id"], found["name"]) == (False, None, "Closed")
    assert found["updated_at"] == api.get(f"/numbers/{n['id']}").data["number"]["updated_at"]


def test_lookup_inbound_is_one_getitem(api, assistant, monkeypatch):
    from pynamodb.connection.base import Connection

    from chalicelib.services import numbers

    api.post("/numbers", {"phone_number": NL, "agent_id": assistant["id"]})
    ops: list[str] = []
    dispatch = Connection.dispatch

    def counting(self, operation_name, operation_kwargs, *a, **kw):
        ops.append(operation_name)
        return dispatch(self, operation_name, operation_kwargs, *a, **kw)

    monkeypatch.setattr(Connection, "dispatch", counting)
    found = numbers.lookup_inbound(NL)
    assert found is not None and found["agent_id"] == assistant["id"]
    assert ops == ["GetItem"]


def test_twilio_number_is_pointed_at_this_deployment(api, twilio):
    pn = twilio.provision_number(NL)
    r = api.post("/numbers", {"phone_number": NL})
    assert r.status_code == 201, r.body
    assert r.data["number"]["source"] == "twilio"
    assert twilio.incoming_number_updates() == [{
        "sid": pn["sid"],
        "VoiceUrl": "https://voice.example.test/api/twilio/voice", "VoiceMethod": "POST",
        "StatusCallback": "https://voice.example.test/api/twilio/status", "StatusCallbackMethod": "POST",
    }]
    assert twilio.incoming_numbers[pn["sid"]]["voice_url"] == "https://voice.example.test/api/twilio/voice"
    lookups = [q for q in twilio.requests if q.method == "GET"]
    assert lookups[0].query["PhoneNumber"] == [NL]
    assert "twilio-SECRET-token" not in r.body.decode()


def test_number_not_in_twilio_account_is_sip_forwarding(api, twilio):
    twilio.provision_number("+31207654321")
    r = api.post("/numbers", {"phone_number": NL})
    assert r.data["number"]["source"] == "sip_forwarding"
    assert twilio.incoming_number_updates() == []


def test_twilio_lookup_failure_is_502_and_claims_nothing(api, twilio, monkeypatch):
    from chalicelib.settings import reset_settings

    twilio.provision_number(NL)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "wrong-token")
    reset_settings()
    r = api.post("/numbers", {"phone_number": NL})
    assert r.status_code == 502 and r.data["error"] == "upstream_error"
    assert "wrong-token" not in r.body.decode()
    assert NumberClaimModel.count() == 0 and api.get("/numbers").data["numbers"] == []


def test_twilio_update_failure_rolls_back_the_registration(api, twilio):
    twilio.provision_number(NL)
    twilio.fail_number_updates = True
    r = api.post("/numbers", {"phone_number": NL})
    assert r.status_code == 502 and "Twilio 500" in r.data["message"]
    assert NumberClaimModel.count() == 0 and api.get("/numbers").data["numbers"] == []
    twilio.fail_number_updates = False
    assert api.post("/numbers", {"phone_number": NL}).status_code == 201


def test_list_pagination_with_limit_offset_and_cursor(api, other_api):
    made = [api.post("/numbers", {"phone_number": f"+3120123450{i}"}).data["number"] for i in range(5)]
    ids = [n["id"] for n in sorted(made, key=lambda n: (n["created_at"], n["id"]))]  # list order
    p1 = api.get("/numbers?limit=2").data
    assert [n["id"] for n in p1["numbers"]] == ids[:2] and p1["next_cursor"]
    p2 = api.get(f"/numbers?limit=2&cursor={p1['next_cursor']}").data
    assert [n["id"] for n in p2["numbers"]] == ids[2:4]
    p3 = api.get(f"/numbers?limit=2&cursor={p2['next_cursor']}").data
    assert [n["id"] for n in p3["numbers"]] == ids[4:] and p3["next_cursor"] is None
    assert [n["id"] for n in api.get("/numbers?offset=3").data["numbers"]] == ids[3:]
    assert api.get("/numbers?limit=0").status_code == 400
    # Another org's cursor is rejected, not followed.
    assert other_api.get(f"/numbers?cursor={p1['next_cursor']}").status_code == 400
