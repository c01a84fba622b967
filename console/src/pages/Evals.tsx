// Evals: the list of test suites and a suite's page (its scenarios, its runs, and a Run button).
// The run page is EvalsRun.tsx. Endpoints and fields: docs/evals.md.
import { useState } from "react";
import { api, errorText, type Assistant, type Schemas } from "../api/client";
import { useLoad, usePoll } from "../hooks";
import { when } from "../format";
import { go } from "../router";
import { Badge } from "../components/Badge";

export type TestSuite = Schemas["TestSuite"];
export type TestRun = Schemas["TestRun"];

type Scenario = {
  name?: string;
  caller?: { lines?: unknown[] | null; instructions?: string | null };
  criteria?: string[];
  expect?: { type?: string }[];
  max_turns?: number;
};

/** Assistant names by id (suites and runs name assistants by id only). */
export function useAssistantNames() {
  return useLoad(async () => {
    const { data } = await api.GET("/assistants", { params: { query: { limit: 1000 } } });
    const list = ((data as { assistants?: Assistant[] } | undefined)?.assistants ?? []) as Assistant[];
    return Object.fromEntries(list.map((a) => [a.id, a.name])) as Record<string, string>;
  });
}

export function passRate(rate: number | null | undefined): string {
  return rate == null ? "–" : `${Math.round(rate * 100)}%`;
}

export function EvalSuitesPage() {
  const suites = useLoad(async () => {
    const { data, error } = await api.GET("/test-suites", { params: { query: { limit: 1000 } } });
    if (error) throw new Error(errorText(error));
    return (data.test_suites ?? []) as TestSuite[];
  });
  const names = useAssistantNames();
  return (
    <>
      <div className="page-head"><h1>Evals</h1></div>
      <p className="muted small">
        Test suites of simulated calls: each scenario is a real call to your assistant, checked and judged afterwards.
      </p>
      {suites.error && <div className="notice bad">{suites.error}</div>}
      <div className="table-wrap">
        <table>
          <thead><tr><th>Suite</th><th>Assistant</th><th>Scenarios</th><th>Updated</th></tr></thead>
          <tbody>
            {(suites.data ?? []).map((s) => (
              <tr key={s.id} className="link" onClick={() => go(`evals/${s.id}`)}>
                <td><a href={`#/evals/${s.id}`}><strong>{s.name}</strong></a></td>
                <td>{(s.assistant_id && names.data?.[s.assistant_id]) ?? s.assistant_id ?? "–"}</td>
                <td>{s.scenarios?.length ?? 0}</td>
                <td className="small">{when(s.updated_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {!suites.loading && !suites.data?.length && (
          <div className="empty">No test suites yet (create them with POST /test-suites or `python -m chalicelib.cli eval run suite.yaml`).</div>
        )}
      </div>
    </>
  );
}

function scenarioKind(s: Scenario): string {
  if (s.caller?.instructions) return "persona";
  return `scripted, ${s.caller?.lines?.length ?? 0} line(s)`;
}

export function EvalSuitePage({ suiteId }: { suiteId: string }) {
  const suite = useLoad(async () => {
    const { data, error } = await api.GET("/test-suites/{suite_id}", { params: { path: { suite_id: suiteId } } });
    if (error) throw new Error(errorText(error));
    return data.test_suite as TestSuite;
  }, [suiteId]);
  const runs = useLoad(async () => {
    const { data, error } = await api.GET("/test-suites/{suite_id}/runs", {
      params: { path: { suite_id: suiteId }, query: { limit: 1000 } },
    });
    if (error) throw new Error(errorText(error));
    return [...((data.test_runs ?? []) as TestRun[])].reverse(); // newest first
  }, [suiteId]);
  const names = useAssistantNames();
  const [starting, setStarting] = useState(false);
  const [runError, setRunError] = useState("");
  usePoll(runs.reload, 2000, (runs.data ?? []).some((r) => r.status === "queued" || r.status === "running"));

  async function run() {
    setStarting(true);
    setRunError("");
    const { data, error } = await api.POST("/test-suites/{suite_id}/runs", {
      // Every field is optional on the wire (the generated type marks defaults as required).
      params: { path: { suite_id: suiteId } }, body: {} as never,
    });
    setStarting(false);
    if (error) {
      setRunError(errorText(error));
      return;
    }
    go(`evals/runs/${data.test_run.id}`);
  }

  if (suite.error) return <div className="notice bad">{suite.error}</div>;
  const s = suite.data;
  if (!s) return <p aria-busy="true">Loading suite…</p>;
  const scenarios = (s.scenarios ?? []) as Scenario[];
  return (
    <>
      <div className="crumb"><a href="#/evals">Evals</a></div>
      <div className="page-head">
        <h1>{s.name}</h1>
        <div className="actions">
          <button onClick={() => void run()} aria-busy={starting} disabled={starting}>Run</button>
        </div>
      </div>
      {runError && <div className="notice bad" role="alert">{runError}</div>}
      {s.description && <p className="muted">{s.description}</p>}
      <p className="small">
        Assistant: {s.assistant_id ? <a href={`#/assistants/${s.assistant_id}`}>{names.data?.[s.assistant_id] ?? s.assistant_id}</a> : "–"}
      </p>
      <section className="card">
        <h2>Scenarios</h2>
        <table className="small">
          <thead><tr><th>Scenario</th><th>Caller</th><th>Criteria</th><th>Checks</th><th>Max turns</th></tr></thead>
          <tbody>
            {scenarios.map((sc, i) => (
              <tr key={`${sc.name}-${i}`}>
                <td><strong>{sc.name}</strong></td><td>{scenarioKind(sc)}</td>
                <td>{(sc.criteria ?? []).map((c) => <div key={c}>{c}</div>)}</td>
                <td>{(sc.expect ?? []).map((e) => e.type).join(", ") || "–"}</td>
                <td>{sc.max_turns ?? "–"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <h2>Runs</h2>
      {runs.error && <div className="notice bad">{runs.error}</div>}
      <div className="table-wrap">
        <table aria-label="Runs">
          <thead><tr><th>Started</th><th>Status</th><th>Passed</th><th>Failed</th><th>Pass rate</th><th>Compared</th><th>Run</th></tr></thead>
          <tbody>
            {(runs.data ?? []).map((r) => (
              <tr key={r.id} data-run-id={r.id} className="link" onClick={() => go(`evals/runs/${r.id}`)}>
                <td className="small">{when(r.started_at ?? r.created_at)}</td><td><Badge value={r.status} /></td>
                <td>{r.summary?.passed ?? 0}</td><td>{r.summary?.failed ?? 0}</td><td>{passRate(r.summary?.pass_rate)}</td>
                <td>{r.comparison ? "A/B" : "–"}</td>
                <td><a href={`#/evals/runs/${r.id}`}>open</a></td>
              </tr>
            ))}
          </tbody>
        </table>
        {!runs.loading && !runs.data?.length && <div className="empty">No runs yet: press Run.</div>}
      </div>
    </>
  );
}
