"""The admin CLI, run in-process against moto (main(argv), stdout captured)."""

from __future__ import annotations

import json

import pytest

from chalicelib import cli


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_org_create_prints_org_and_key(aws, capsys, client):
    from tests.conftest import Api

    code, out, _ = run(capsys, "org", "create", "--name", "Agency", "--balance", "250")
    assert code == 0
    data = json.loads(out)
    assert data["org"]["name"] == "Agency" and data["org"]["minutes_balance"] == 250
    assert data["org"]["parent_org_id"] is None and data["api_key"].startswith("fl_live_")
    r = Api(client, data["api_key"]).get("/organizations")
    assert r.status_code == 200 and r.data["id"] == data["org"]["id"] and r.data["minutes_balance"] == 250

    code, out, _ = run(capsys, "org", "create", "--name", "Child", "--parent", data["org"]["id"])
    assert code == 0 and json.loads(out)["org"]["parent_org_id"] == data["org"]["id"]


def test_org_create_errors(aws, capsys):
    code, out, err = run(capsys, "org", "create", "--name", "X", "--parent", "3f2b7c4e-8d1a-4b6c-9e0f-123456789abc")
    assert code == 1 and out == "" and "not found" in err
    code, _, err = run(capsys, "org", "create", "--name", "  ")
    assert code == 2
    with pytest.raises(SystemExit) as exc:
        cli.main(["org", "create"])
    assert exc.value.code == 2


def test_key_create_and_revoke(aws, capsys, client):
    from tests.conftest import Api

    org = json.loads(run(capsys, "org", "create", "--name", "Keys")[1])
    code, out, _ = run(capsys, "key", "create", "--org", org["org"]["id"])
    assert code == 0
    second = out.strip()
    assert second.startswith("fl_live_") and second != org["api_key"]
    code, out, _ = run(capsys, "key", "create", "--org", org["org"]["id"], "--json")
    third = json.loads(out)
    assert third["org_id"] == org["org"]["id"] and third["api_key"].startswith(third["key_prefix"])
    for key in (org["api_key"], second, third["api_key"]):
        assert Api(client, key).get("/organizations").status_code == 200

    code, out, _ = run(capsys, "key", "revoke", "--key-prefix", second[:16])
    assert code == 0 and json.loads(out)["revoked"] == [{"key_prefix": second[:16], "org_id": org["org"]["id"]}]
    r = Api(client, second).get("/organizations")
    assert r.status_code == 401 and r.data["error"] == "unauthorized"
    assert Api(client, org["api_key"]).get("/organizations").status_code == 200  # others untouched

    assert run(capsys, "key", "revoke", "--key-prefix", "fl_live_zzzzzzzz")[0] == 1
    assert run(capsys, "key", "revoke", "--key-prefix", "fl_")[0] == 2
    assert run(capsys, "key", "create", "--org", "3f2b7c4e-8d1a-4b6c-9e0f-123456789abc")[0] == 1


def test_tables_create_idempotent(aws, capsys):
    from chalicelib.storage.tables import OrgModel

    OrgModel.delete_table()
    code, out, _ = run(capsys, "tables", "create")
    assert code == 0 and json.loads(out)["created"] == [OrgModel.Meta.table_name]
    code, out, _ = run(capsys, "tables", "create")
    assert json.loads(out)["created"] == []
