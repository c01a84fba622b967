def test_health_ok(client):
    resp = client.http.get("/api/v1/health")
    assert resp.status_code == 200
    assert resp.json_body == {"status": "ok"}


def test_create_and_list_assistant(api):
    r = api.post("/assistants", {"name": "Receptionist", "firstMessage": "Hello!"})
    assert r.status_code == 201, r.body
    a = r.data["assistant"]
    assert a["first_message"] == "Hello!"
    r = api.get("/assistants")
    assert [x["id"] for x in r.data["assistants"]] == [a["id"]]
