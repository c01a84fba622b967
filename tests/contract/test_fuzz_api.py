"""Property-based API tests: schemathesis over every operation of the live document.

The Chalice app runs in-process on moto behind a small WSGI adapter over ``chalice.test.Client`` (the
same local gateway ``chalice local`` uses), with a real API key. Derandomized (fixed seed) and bounded
so the whole run takes about two minutes on two cores; ``FUZZ_EXAMPLES`` raises the bound by hand
(docs/api.md records the figures of a 25-example run).
Checks: no 5xx, every status code documented, every response body conforms to its schema.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.contract.conftest import wsgi_app

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))


def run_fuzz(client, key: str, examples: int, statuses: Counter | None = None) -> dict[str, list[str]]:
    """Run every operation ``examples`` times; failures by operation (check name and message)."""
    api = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", wsgi_app(client))
    failures: dict[str, list[str]] = {}
    # Every operation of our own document loads; an Err here would be a broken document (fails the test).
    operations = [result.ok() for result in api.get_all_operations() if isinstance(result, Ok)]
    assert len(operations) == len(list(api.get_all_operations()))
    for op, mode in [(op, mode) for op in operations for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]:
        label = f"{op.method.upper()} {op.path} ({mode.value})"

        def make(label: str, strategy):
            @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
                      suppress_health_check=tuple(HealthCheck.__members__.values()),
                      phases=[Phase.explicit, Phase.generate])
            @given(case=strategy)
            def run(case):
                try:
                    response = case.call(headers={"Authorization": f"Bearer {key}"})
                    if statuses is not None:
                        statuses[response.status_code] += 1
                    case.validate_response(response, checks=[not_a_server_error, status_code_conformance,
                                                             response_schema_conformance])
                except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected: every failing check
                    failures.setdefault(label, []).append(f"{type(exc).__name__}: {str(exc)[:600]}")

            return run

        try:
            make(label, op.as_strategy(generation_mode=mode))()
        except Unsatisfiable:
            pass  # nothing to make invalid (no parameters, no body): negative mode has no case
    return failures


@pytest.fixture
def unthrottled(monkeypatch):
    """A rate limit the run cannot reach: otherwise most cases would only see 429."""
    from chalicelib.settings import reset_settings

    monkeypatch.setenv("RATE_LIMIT_PER_MINUTE", "1000000")
    reset_settings()
    yield
    reset_settings()


# Every operation x two modes x EXAMPLES cases: minutes on a loaded 2-core machine, over the suite's 300 s.
@pytest.mark.timeout(900)
def test_api_conforms_to_its_document(client, org, unthrottled):
    statuses: Counter = Counter()
    failures = run_fuzz(client, org[1], EXAMPLES, statuses)
    assert statuses[429] == 0 and sum(statuses.values()) > 10 * len(failures or [1])
    report = os.environ.get("FUZZ_REPORT")
    if report:  # by hand: FUZZ_EXAMPLES=25 FUZZ_REPORT=/tmp/fuzz.txt pytest tests/contract/test_fuzz_api.py
        with open(report, "w") as fh:
            fh.write(f"statuses: {dict(sorted(statuses.items()))}\n")
            for op, msgs in sorted(failures.items()):
                fh.write(f"== {op}: {len(msgs)} failing cases\n" + "\n".join(msgs) + "\n")
    assert not failures, "\n".join(f"{op}: {len(msgs)} failing: {msgs[0]}" for op, msgs in sorted(failures.items()))
