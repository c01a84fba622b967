"""Test suites, test runs and their per-scenario results (docs/evals.md).

Suites are plain tenant documents (``DocumentRepository``). A run row (org_id, id) carries the
suite as it was when the run started, so editing the suite never changes a run's meaning; the
``by_suite`` LSI (``"<suite_id>#<created_at>"``) lists a suite's runs oldest first without a scan.
Each scenario attempt writes its own result row under ``"<org_id>#<run_id>"``: concurrent Map
iterations never write the same item.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.update import Action

from chalicelib.storage.base import is_condition_failure
from chalicelib.storage.documents import DocumentRepository
from chalicelib.storage.tables import EvalResultModel, EvalRunModel, EvalSuiteModel
from chalicelib.timeutil import now_iso


@lru_cache(maxsize=1)
def suites() -> DocumentRepository[EvalSuiteModel]:
    return DocumentRepository(EvalSuiteModel)


@dataclass
class Run:
    org_id: str
    id: str
    suite_id: str
    status: str
    data: dict[str, Any]
    created_at: str
    updated_at: str


@dataclass
class RunPage:
    items: list[Run]
    next_cursor: dict[str, Any] | None


@dataclass
class Result:
    index: int
    data: dict[str, Any] = field(default_factory=dict)


def _run(item: EvalRunModel) -> Run:
    return Run(item.org_id, item.id, item.suite_id, item.status, item.data or {}, item.created_at, item.updated_at)


def _run_key(org_id: str, run_id: str) -> str:
    return f"{org_id}#{run_id}"


class RunRepository:
    def create(self, run: Run) -> Run:
        EvalRunModel(run.org_id, run.id, suite_id=run.suite_id, suite_created=f"{run.suite_id}#{run.created_at}",
                     status=run.status, data=run.data, created_at=run.created_at,
                     updated_at=run.updated_at).save(condition=EvalRunModel.id.does_not_exist())
        return run

    def get(self, org_id: str, run_id: str) -> Run | None:
        try:
            return _run(EvalRunModel.get(org_id, run_id, consistent_read=True))
        except DoesNotExist:
            return None

    def page_for_suite(self, org_id: str, suite_id: str, limit: int, offset: int = 0,
                       cursor: dict[str, Any] | None = None) -> RunPage:
        """One page of a suite's runs, oldest first (one Query of offset+limit+1 items on ``by_suite``)."""
        want = offset + limit
        rows = list(EvalRunModel.by_suite.query(org_id, EvalRunModel.suite_created.startswith(f"{suite_id}#"),
                                                limit=want + 1, page_size=min(want + 1, 1000),
                                                last_evaluated_key=cursor))
        items = [_run(r) for r in rows[:want]][offset:]
        nxt = None
        if len(rows) > want and items:
            last = items[-1]
            nxt = {"org_id": {"S": org_id}, "id": {"S": last.id},
                   "suite_created": {"S": f"{suite_id}#{last.created_at}"}}
        return RunPage(items, nxt)

    def set_status(self, org_id: str, run_id: str, status: str, *, from_statuses: tuple[str, ...],
                   data_updates: dict[str, Any] | None = None) -> bool:
        """Move the run to ``status`` only from ``from_statuses``; False when it was not in one of them."""
        current = self.get(org_id, run_id)
        if current is None or current.status not in from_statuses:
            return False
        actions: list[Action] = [EvalRunModel.status.set(status), EvalRunModel.updated_at.set(now_iso())]
        condition = EvalRunModel.status.is_in(*from_statuses)
        if data_updates:
            actions.append(EvalRunModel.data.set({**current.data, **data_updates}))
            condition = condition & (EvalRunModel.updated_at == current.updated_at)
        try:
            EvalRunModel(org_id, run_id).update(actions=actions, condition=condition)
        except UpdateError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True


class ResultRepository:
    def put(self, org_id: str, run_id: str, index: int, data: dict[str, Any]) -> None:
        """Store (or overwrite, for a retried task) one scenario attempt's result."""
        EvalResultModel(_run_key(org_id, run_id), f"{index:05d}", data=data, created_at=now_iso()).save()

    def get(self, org_id: str, run_id: str, index: int) -> Result | None:
        try:
            item = EvalResultModel.get(_run_key(org_id, run_id), f"{index:05d}", consistent_read=True)
        except DoesNotExist:
            return None
        return Result(int(item.id), item.data or {})

    def list(self, org_id: str, run_id: str) -> list[Result]:
        return [Result(int(i.id), i.data or {})
                for i in EvalResultModel.query(_run_key(org_id, run_id), consistent_read=True)]
