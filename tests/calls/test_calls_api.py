"""GET /api/v1/calls and /calls/{id}: filters, pagination, fields, tenant isolation."""

from __future__ import annotations

from chalicelib.storage.calls import Call, CallRepository


def _seed(org_id: str) -> list[str]:
    repo = CallRepository()
    rows = [("2026-01-05T10:00:00.000Z", "queued"), ("2026-01-05T11:00:00.000Z", "ringing"),
            ("2026-01-06T09:00:00.000Z", "in-progress"), ("2026-01-07T09:00:00.000Z", "ended"),
            ("2026-01-08T09:00:00.000Z", "failed"), ("2026-01-09T09:00:00.000Z", "ended")]
    ids = []
    for i, (created, status) in enumerate(rows):
        call_id = f"00000000-0000-4000-8000-00000000000{i}"
        repo.create(Call(org_id, call_id, status, "outbound", created, created,
                         data={"caller_phone": "+31612345678", "end_reason": "customer_hangup"
                               if status == "ended" else None, "messages": [{"role": "user", "content": "hi"}],
                               "latency": {"turns": []}, "costs": {"total": 0.1}, "metadata": {"k": i},
                               "control_url": "http://10.0.0.1:8081", "secrets_enc": {"webhook_secret": "v1.x"}}))
        ids.append(call_id)
    return ids


def test_list_newest_first_with_status_filters(api, org):
    ids = _seed(org[0].id)
    r = api.get("/calls")
    assert r.status_code == 200
    assert [c["id"] for c in r.data["calls"]] == ids[::-1]
    assert r.data["pagination"] == {"total": 6, "limit": 100, "offset": 0} and r.data["next_cursor"] is None
    expect = {"connecting": {ids[0], ids[1]}, "in-progress": {ids[2]}, "ended": {ids[3], ids[5]},
              "failed": {ids[4]}}
    for status, want in expect.items():
        r = api.get(f"/calls?status={status}")
        assert {c["id"] for c in r.data["calls"]} == want, status
        assert r.data["pagination"]["total"] == len(want)
    r = api.get("/calls?status=bogus")
    assert r.status_code == 400 and r.data["param"] == "status"


def test_date_range_filters(api, org):
    ids = _seed(org[0].id)
    r = api.get("/calls?start_date=2026-01-06&end_date=2026-01-08")
    assert [c["id"] for c in r.data["calls"]] == [ids[4], ids[3], ids[2]]
    r = api.get("/calls?start_date=2026-01-05T10:30:00Z&end_date=2026-01-05T23:00:00.000Z")
    assert [c["id"] for c in r.data["calls"]] == [ids[1]]
    r = api.get("/calls?start_date=yesterday")
    assert r.status_code == 400 and r.data["param"] == "start_date"


def test_pagination_by_cursor_and_offset(api, org):
    ids = _seed(org[0].id)
    seen, cursor = [], None
    while True:
        r = api.get("/calls?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert r.status_code == 200
        seen += [c["id"] for c in r.data["calls"]]
        assert r.data["pagination"]["total"] == 6
        cursor = r.data["next_cursor"]
        if not cursor:
            break
    assert seen == ids[::-1]
    r = api.get("/calls?limit=2&offset=3")
    assert [c["id"] for c in r.data["calls"]] == [ids[2], ids[1]]
    assert r.data["pagination"] == {"total": 6, "limit": 2, "offset": 3}
    r = api.get("/calls?limit=2&status=ended")
    assert [c["id"] for c in r.data["calls"]] == [ids[5], ids[3]]


def test_get_call_has_every_contract_field_and_no_secrets(api, org, other_api):
    ids = _seed(org[0].id)
    r = api.get(f"/calls/{ids[3]}")
    assert r.status_code == 200
    call = r.data
    for field in ("id", "caller_phone", "assistant_phone", "status", "direction", "end_reason", "error",
                  "started_at", "ended_at", "duration_seconds", "summary", "analysis_result", "messages",
                  "room_name", "recording_url", "agent_id", "number_id", "agent_name", "business_name",
                  "phone_number", "created_at", "updated_at", "latency", "costs", "metadata", "campaign_id",
                  "lead_id"):
        assert field in call, field
    assert call["messages"] == [{"role": "user", "content": "hi"}] and call["costs"] == {"total": 0.1}
    assert "control_url" not in call and "secrets_enc" not in call and "v1.x" not in r.body.decode()
    assert other_api.get(f"/calls/{ids[3]}").status_code == 404
    assert other_api.get("/calls").data["calls"] == []
    assert api.get("/calls/nope").status_code == 404
