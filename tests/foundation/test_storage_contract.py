"""One contract, two implementations: the in-memory fake and the pynamodb DocumentRepository (moto)."""

from __future__ import annotations

import pytest

from chalicelib.errors import Conflict, InvalidRequest
from chalicelib.storage.documents import Document

ORG_A = "11111111-1111-4111-8111-111111111111"
ORG_B = "22222222-2222-4222-8222-222222222222"


@pytest.fixture(params=["memory", "dynamodb"])
def repo(request):
    if request.param == "memory":
        from chalicelib.storage.memory import MemoryDocumentRepository

        yield MemoryDocumentRepository(extra_attrs=("secrets_enc",))
        return
    request.getfixturevalue("aws")
    from chalicelib.storage.documents import DocumentRepository
    from chalicelib.storage.tables import AssistantModel

    yield DocumentRepository(AssistantModel, extra_attrs=("secrets_enc",))


def _doc(org, n, **data):
    ts = f"2026-01-05T10:00:{n:02d}.000Z"
    return Document(org, f"00000000-0000-4000-8000-{n:012d}", {"name": f"d{n}", **data}, ts, ts,
                    {"secrets_enc": None})


def test_create_get_roundtrip(repo):
    d = _doc(ORG_A, 1, nested={"a": [1, 2, {"b": None}]}, text="ünïcode ✓")
    d.extra = {"secrets_enc": {"webhook_secret": "blob"}}
    repo.create(d)
    got = repo.get(ORG_A, d.id)
    assert got == d
    got.data["name"] = "mutated"  # returned copies are not live views
    assert repo.get(ORG_A, d.id).data["name"] == "d1"


def test_create_duplicate_conflicts(repo):
    repo.create(_doc(ORG_A, 1))
    with pytest.raises(Conflict):
        repo.create(_doc(ORG_A, 1, name="other"))
    assert repo.get(ORG_A, _doc(ORG_A, 1).id).data["name"] == "d1"
    repo.create(_doc(ORG_B, 1))  # same id in another org is another document


def test_get_missing(repo):
    assert repo.get(ORG_A, _doc(ORG_A, 9).id) is None


def test_list_oldest_first_and_count(repo):
    for n in (3, 1, 2):
        repo.create(_doc(ORG_A, n))
    repo.create(_doc(ORG_B, 4))
    assert [d.data["name"] for d in repo.list(ORG_A)] == ["d1", "d2", "d3"]
    assert repo.count(ORG_A) == 3 and repo.count(ORG_B) == 1
    assert repo.list("33333333-3333-4333-8333-333333333333") == []


def test_replace(repo):
    d = _doc(ORG_A, 1)
    repo.create(d)
    d.data = {"name": "renamed"}
    d.updated_at = "2026-01-06T00:00:00.000Z"
    assert repo.replace(d) is True
    assert repo.get(ORG_A, d.id).data == {"name": "renamed"}
    assert repo.get(ORG_A, d.id).updated_at == "2026-01-06T00:00:00.000Z"
    ghost = _doc(ORG_A, 2)
    assert repo.replace(ghost) is False
    assert repo.get(ORG_A, ghost.id) is None  # replace never creates


def test_delete(repo):
    d = _doc(ORG_A, 1)
    repo.create(d)
    assert repo.delete(ORG_A, d.id) is True
    assert repo.get(ORG_A, d.id) is None
    assert repo.delete(ORG_A, d.id) is False


def test_cross_org_isolation(repo):
    d = _doc(ORG_A, 1)
    repo.create(d)
    assert repo.get(ORG_B, d.id) is None
    assert repo.delete(ORG_B, d.id) is False
    foreign = _doc(ORG_B, 1)
    foreign.id = d.id
    assert repo.replace(foreign) is False
    assert repo.list(ORG_B) == [] and repo.count(ORG_B) == 0
    assert repo.get(ORG_A, d.id).data["name"] == "d1"


def test_paging_with_cursor_and_offset(repo):
    for n in range(1, 8):
        repo.create(_doc(ORG_A, n))
    repo.create(_doc(ORG_B, 20))
    seen, cursor = [], None
    while True:
        page = repo.page(ORG_A, 3, 0, cursor)
        seen.append([d.data["name"] for d in page.items])
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [["d1", "d2", "d3"], ["d4", "d5", "d6"], ["d7"]]
    exact = repo.page(ORG_A, 7)
    assert len(exact.items) == 7 and exact.next_cursor is None  # no empty trailing page
    page = repo.page(ORG_A, 2, offset=4)
    assert [d.data["name"] for d in page.items] == ["d5", "d6"] and page.next_cursor is not None
    assert [d.data["name"] for d in repo.page(ORG_A, 2, 0, page.next_cursor).items] == ["d7"]
    assert repo.page(ORG_A, 5, offset=10).items == []


def test_cursor_of_another_org_rejected(repo):
    for n in range(1, 4):
        repo.create(_doc(ORG_A, n))
        repo.create(_doc(ORG_B, n + 10))
    cursor = repo.page(ORG_A, 1).next_cursor
    with pytest.raises(InvalidRequest):
        repo.page(ORG_B, 10, 0, cursor)
