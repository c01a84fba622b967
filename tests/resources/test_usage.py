"""/usage: both field generations, summary, pagination (offset and cursor), date filters, isolation."""

from __future__ import annotations

import pytest

from chalicelib.storage.usage import UsageRepository


def _record(i: int, seconds: int, **extra):
    return {"call_id": f"00000000-0000-4000-8000-{i:012d}", "duration_seconds": seconds,
            "minutes_used": -(-seconds // 60), "cost": round(-(-seconds // 60) * 0.10, 2), "byok_stt": i % 2 == 0,
            "byok_llm": False, "byok_tts": True, "phone_number": "+31201234567", "agent_name": "Receptionist",
            "business_name": "Acme Dental", "call_type": "phone", **extra}


@pytest.fixture
def logs(org):
    repo = UsageRepository()
    out = []
    for i, (day, seconds) in enumerate([("2026-01-05", 61), ("2026-01-06", 30), ("2026-01-06", 125),
                                        ("2026-01-07", 600), ("2026-01-08", 1)]):
        out.append(repo.add(org[0].id, _record(i, seconds, created_at=f"{day}T10:0{i}:00.000Z")))
    return out


def test_add_sets_id_and_created_at(org):
    rec = UsageRepository().add(org[0].id, _record(9, 42))
    assert len(rec["id"]) == 36 and rec["created_at"].endswith("Z") and rec["duration_seconds"] == 42


def test_logs_carry_both_generations_and_summary(api, logs):
    r = api.get("/usage")
    assert r.status_code == 200, r.body
    first = r.data["logs"][0]  # newest first
    assert first == {
        "id": logs[4]["id"], "call_id": logs[4]["call_id"], "duration_seconds": 1, "duration_sec": 1,
        "minutes_used": 1, "cost": 0.1, "byok_stt": True, "byok_llm": False, "byok_tts": True,
        "phone_number": "+31201234567", "agent_name": "Receptionist", "business_name": "Acme Dental",
        "call_type": "phone", "direction": None, "created_at": "2026-01-08T10:04:00.000Z",
    }
    assert [x["id"] for x in r.data["logs"]] == [x["id"] for x in reversed(logs)]
    assert r.data["summary"] == {"total_calls": 5, "total_duration_seconds": 817, "total_duration_minutes": 13.62,
                                 "total_minutes": 2 + 1 + 3 + 10 + 1, "total_cost": 1.7, "currency": "EUR"}
    assert r.data["pagination"] == {"total": 5, "limit": 100, "offset": 0}
    assert r.data["next_cursor"] is None and r.data["currency"] == "EUR"


def test_minutes_used_derived_when_missing(api, org):
    UsageRepository().add(org[0].id, {"call_id": "c", "duration_seconds": 61, "cost": 0.2})
    log = api.get("/usage").data["logs"][0]
    assert log["minutes_used"] == 2 and log["duration_sec"] == 61 and log["byok_llm"] is False
    assert log["call_type"] == "phone" and log["direction"] is None


def test_call_direction_written_as_call_type_is_normalised(api, org):
    UsageRepository().add(org[0].id, {"call_id": "a", "duration_seconds": 5, "call_type": "outbound"})
    UsageRepository().add(org[0].id, {"call_id": "b", "duration_seconds": 5, "call_type": "web"})
    logs = {x["call_id"]: x for x in api.get("/usage").data["logs"]}
    assert (logs["a"]["call_type"], logs["a"]["direction"]) == ("phone", "outbound")
    assert (logs["b"]["call_type"], logs["b"]["direction"]) == ("web", None)


def test_offset_and_cursor_pagination(api, logs):
    page1 = api.get("/usage?limit=2").data
    assert [x["id"] for x in page1["logs"]] == [logs[4]["id"], logs[3]["id"]]
    assert page1["summary"]["total_calls"] == 5 and page1["next_cursor"]
    page2 = api.get(f"/usage?limit=2&cursor={page1['next_cursor']}").data
    assert [x["id"] for x in page2["logs"]] == [logs[2]["id"], logs[1]["id"]]
    assert page2["pagination"]["offset"] == 2
    page3 = api.get(f"/usage?limit=2&cursor={page2['next_cursor']}").data
    assert [x["id"] for x in page3["logs"]] == [logs[0]["id"]] and page3["next_cursor"] is None
    by_offset = api.get("/usage?limit=2&offset=2").data
    assert [x["id"] for x in by_offset["logs"]] == [logs[2]["id"], logs[1]["id"]]


def test_cursor_is_stable_when_new_logs_arrive(api, org, logs):
    page1 = api.get("/usage?limit=2").data
    UsageRepository().add(org[0].id, _record(7, 10))  # newer than everything
    page2 = api.get(f"/usage?limit=2&cursor={page1['next_cursor']}").data
    assert [x["id"] for x in page2["logs"]] == [logs[2]["id"], logs[1]["id"]]


def test_date_filters(api, logs):
    r = api.get("/usage?start_date=2026-01-06&end_date=2026-01-07").data
    assert [x["id"] for x in r["logs"]] == [logs[3]["id"], logs[2]["id"], logs[1]["id"]]
    assert r["summary"]["total_calls"] == 3 and r["summary"]["total_duration_seconds"] == 755
    r = api.get("/usage?start_date=2026-01-06T10:02:00Z&end_date=2026-01-07T10:03:00.000Z").data
    assert [x["id"] for x in r["logs"]] == [logs[3]["id"], logs[2]["id"]]
    r = api.get("/usage?end_date=2026-01-05").data
    assert [x["id"] for x in r["logs"]] == [logs[0]["id"]]
    assert api.get("/usage?start_date=2027-01-01").data["summary"]["total_calls"] == 0


def test_validation_errors(api):
    for qs, param in [("limit=0", "limit"), ("limit=1001", "limit"), ("offset=-1", "offset"), ("limit=x", "limit"),
                      ("start_date=yesterday", "start_date"), ("end_date=2026-13-01", "end_date"),
                      ("cursor=%%%", "cursor"), ("start_date=2026-02-01&end_date=2026-01-01", "start_date")]:
        r = api.get(f"/usage?{qs}")
        assert r.status_code == 400, (qs, r.body)
        assert r.data["param"] == param


def test_currency_from_settings(api, logs, monkeypatch):
    from chalicelib.settings import reset_settings

    monkeypatch.setenv("CURRENCY", "USD")
    reset_settings()
    r = api.get("/usage").data
    assert r["currency"] == "USD" and r["summary"]["currency"] == "USD"


def test_tenant_isolation(api, other_api, logs):
    r = other_api.get("/usage").data
    assert r["logs"] == [] and r["summary"]["total_calls"] == 0
    assert api.get("/usage").data["summary"]["total_calls"] == 5
