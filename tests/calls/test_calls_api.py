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


def test_direction_assistant_and_campaign_filters_and_their_errors(api, org, other_api):
    """Each filter narrows on the server (totals included), they combine, and a cursor pages within them."""
    repo = CallRepository()
    assistant_a, assistant_b = "aaaaaaaa-0000-4000-8000-000000000001", "aaaaaaaa-0000-4000-8000-000000000002"
    campaign = "cccccccc-0000-4000-8000-000000000001"
    rows = [("inbound", assistant_a, None), ("outbound", assistant_a, campaign), ("outbound", assistant_b, campaign),
            ("web", assistant_b, None), ("outbound", assistant_a, None)]
    ids = []
    for i, (direction, assistant, camp) in enumerate(rows):
        created = f"2026-02-0{i + 1}T09:00:00.000Z"
        call_id = f"00000000-0000-4000-8000-00000000010{i}"
        data = {"assistant_id": assistant, **({"campaign_id": camp} if camp else {})}
        repo.create(Call(org[0].id, call_id, "ended", direction, created, created, data=data))
        ids.append(call_id)

    def listed(query: str) -> tuple[list[str], int]:
        r = api.get(f"/calls?{query}")
        assert r.status_code == 200, r.data
        return [c["id"] for c in r.data["calls"]], r.data["pagination"]["total"]

    assert listed("direction=outbound") == ([ids[4], ids[2], ids[1]], 3)
    assert listed("direction=web") == ([ids[3]], 1)
    assert listed(f"assistant_id={assistant_a}") == ([ids[4], ids[1], ids[0]], 3)
    assert listed(f"agent_id={assistant_b}") == ([ids[3], ids[2]], 2)  # the Flireo spelling
    assert listed(f"campaign_id={campaign}") == ([ids[2], ids[1]], 2)
    assert listed(f"direction=outbound&assistant_id={assistant_a}&start_date=2026-02-03") == ([ids[4]], 1)
    page = api.get(f"/calls?assistant_id={assistant_a}&limit=2")
    assert [c["id"] for c in page.data["calls"]] == [ids[4], ids[1]] and page.data["next_cursor"]
    rest = api.get(f"/calls?assistant_id={assistant_a}&limit=2&cursor={page.data['next_cursor']}")
    assert [c["id"] for c in rest.data["calls"]] == [ids[0]]
    # a cursor is bound to its filters: reused with other filters it is refused
    assert api.get(f"/calls?campaign_id={campaign}&limit=2&cursor={page.data['next_cursor']}").status_code == 400

    # a call whose stored data changes keeps its filter copies in step
    repo.update_data(org[0].id, ids[0], {"assistant_id": assistant_b})
    assert listed(f"assistant_id={assistant_b}") == ([ids[3], ids[2], ids[0]], 3)

    for query, param in [("direction=sideways", "direction"), ("assistant_id=not-a-uuid", "assistant_id"),
                         ("agent_id=123", "agent_id"), ("campaign_id=x", "campaign_id"),
                         ("start_date=2026-02-05&end_date=2026-02-01", "start_date")]:
        r = api.get(f"/calls?{query}")
        assert r.status_code == 400, query
        assert r.data["error"] == "invalid_request" and r.data["param"] == param and r.data["message"], r.data
    # another organization filtering by these ids sees none of them (and no hint that they exist)
    r = other_api.get(f"/calls?assistant_id={assistant_a}&campaign_id={campaign}")
    assert r.status_code == 200 and r.data["calls"] == [] and r.data["pagination"]["total"] == 0


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
