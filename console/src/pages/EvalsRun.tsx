// A test run: per scenario attempt the verdict, the judged criteria with their reasoning, the checks,
// and the call behind it (transcript and recording inline, the full call page one click away).
import { useState } from "react";
import { api, errorText, type Call, type Schemas } from "../api/client";
import { useLoad, usePoll } from "../hooks";
import { duration, when } from "../format";
import { Badge } from "../components/Badge";
import { RecordingTranscript } from "../components/Recording";
import { passRate, useAssistantNames, type TestRun } from "./Evals";

type TestResult = Schemas["TestResult"];
type Comparison = {
  scenario: string;
  a: { pass_rate?: number | null; voice_to_voice_p50_ms?: number | null };
  b: { pass_rate?: number | null; voice_to_voice_p50_ms?: number | null };
  latency_diff_ms?: number | null;
};
type ScenarioSummary = { scenario: string; variant: string; attempts: number; passed: number; pass_rate: number | null; voice_to_voice_p50_ms?: number | null };
type Webhook = { status?: string; attempts?: unknown[]; last_error?: string | null };

function Verdict({ passed }: { passed?: boolean }) {
  return <span className={`badge ${passed ? "ok" : "bad"}`}>{passed ? "passed" : "failed"}</span>;
}

function ms(v?: number | null): string {
  return v == null ? "–" : `${Math.round(v)} ms`;
}

/** The call's transcript and recording, loaded when opened. */
function CallTranscript({ callId }: { callId: string }) {
  const call = useLoad(async () => {
    const { data, error } = await api.GET("/calls/{call_id}", { params: { path: { call_id: callId } } });
    if (error) throw new Error(errorText(error));
    return data as Call;
  }, [callId]);
  if (call.error) return <div className="notice bad">{call.error}</div>;
  if (!call.data) return <p aria-busy="true">Loading call…</p>;
  const messages = (call.data.messages ?? []) as { role: string; content?: string | null }[];
  return <RecordingTranscript url={call.data.recording_url ?? null} messages={messages} />;
}

function ResultCard({ r, assistant }: { r: TestResult; assistant: string }) {
  const [open, setOpen] = useState(false);
  const latency = r.latency ?? null;
  return (
    <section className="card" data-scenario={r.scenario} aria-label={`Result ${r.scenario}`}>
      <div className="page-head">
        <h3>{r.scenario} <span className="muted small">version {r.variant} · attempt {r.attempt}</span></h3>
        <Verdict passed={r.passed} />
      </div>
      {r.error && <div className="notice bad">{r.error}</div>}
      <dl className="kv">
        <dt>Assistant</dt><dd>{assistant}</dd>
        <dt>Call</dt><dd>{r.call_id ? <a href={`#/calls/${r.call_id}`}>open call page</a> : "no call"}</dd>
        <dt>Duration</dt><dd>{duration(r.duration_seconds)}</dd>
        <dt>End reason</dt><dd>{r.end_reason ?? "–"}</dd>
        <dt>Voice-to-voice</dt><dd>p50 {ms(latency?.voice_to_voice_p50_ms)}, p95 {ms(latency?.voice_to_voice_p95_ms)} ({latency?.turns ?? 0} turns)</dd>
      </dl>
      <h4>Criteria</h4>
      {(r.criteria ?? []).length ? (
        <table className="small" aria-label="Criteria">
          <thead><tr><th>Criterion</th><th>Verdict</th><th>Judge's reasoning</th></tr></thead>
          <tbody>
            {(r.criteria ?? []).map((c, i) => (
              <tr key={i}><td>{c.criterion}</td><td><Verdict passed={c.passed} /></td><td className="muted">{c.reasoning}</td></tr>
            ))}
          </tbody>
        </table>
      ) : <p className="muted small">No criteria judged.</p>}
      <h4>Checks</h4>
      {(r.checks ?? []).length ? (
        <table className="small" aria-label="Checks">
          <thead><tr><th>Check</th><th>Result</th><th>Detail</th></tr></thead>
          <tbody>
            {(r.checks ?? []).map((c, i) => (
              <tr key={i}><td><code>{c.type}</code></td><td><Verdict passed={c.passed} /></td><td className="muted">{c.detail}</td></tr>
            ))}
          </tbody>
        </table>
      ) : <p className="muted small">No checks.</p>}
      {r.call_id && (
        <details onToggle={(e) => setOpen((e.target as HTMLDetailsElement).open)}>
          <summary>Transcript and recording</summary>
          {open && <CallTranscript callId={r.call_id} />}
        </details>
      )}
    </section>
  );
}

export function EvalRunPage({ runId }: { runId: string }) {
  const run = useLoad(async () => {
    const { data, error } = await api.GET("/test-runs/{run_id}", { params: { path: { run_id: runId } } });
    if (error) throw new Error(errorText(error));
    return data.test_run as TestRun;
  }, [runId]);
  const names = useAssistantNames();
  const r = run.data;
  usePoll(run.reload, 2000, r?.status === "queued" || r?.status === "running");
  if (run.error) return <div className="notice bad">{run.error}</div>;
  if (!r) return <p aria-busy="true">Loading run…</p>;
  const s = r.summary ?? {};
  const results = (r.results ?? []) as TestResult[];
  const comparison = (r.comparison ?? null) as Comparison[] | null;
  const perScenario = (s.scenarios ?? []) as unknown as ScenarioSummary[];
  const webhook = ((r as { webhook?: Webhook | null }).webhook ?? null);
  const name = (id?: string | null) => (id ? names.data?.[id] ?? id : "–");
  return (
    <>
      <div className="crumb"><a href="#/evals">Evals</a> / <a href={`#/evals/${r.suite_id}`}>{r.suite_name}</a></div>
      <div className="page-head"><h1>Run of {r.suite_name} <Badge value={r.status} /></h1></div>
      {r.error && <div className="notice bad">{r.error}</div>}
      <div className="stats">
        <div className="stat"><div className="label">Passed</div><div className="value">{s.passed ?? 0}</div></div>
        <div className="stat"><div className="label">Failed</div><div className="value">{s.failed ?? 0}</div></div>
        <div className="stat"><div className="label">Pass rate</div><div className="value">{passRate(s.pass_rate)}</div></div>
        <div className="stat"><div className="label">Started</div><div className="value small">{when(r.started_at ?? r.created_at)}</div></div>
        <div className="stat"><div className="label">Completed</div><div className="value small">{when(r.completed_at)}</div></div>
      </div>
      {perScenario.some((x) => x.attempts > 1) && (
        <section className="card">
          <h2>Pass rate per scenario</h2>
          <table className="small" aria-label="Pass rates">
            <thead><tr><th>Scenario</th><th>Version</th><th>Passed</th><th>Pass rate</th><th>Voice-to-voice p50</th></tr></thead>
            <tbody>
              {perScenario.map((x) => (
                <tr key={`${x.scenario}-${x.variant}`}><td>{x.scenario}</td><td>{x.variant}</td><td>{x.passed}/{x.attempts}</td>
                  <td>{passRate(x.pass_rate)}</td><td>{ms(x.voice_to_voice_p50_ms)}</td></tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
      {comparison && (
        <section className="card">
          <h2>A/B comparison</h2>
          <table className="small">
            <thead><tr><th>Scenario</th><th>A pass rate</th><th>B pass rate</th><th>A p50</th><th>B p50</th><th>Latency difference (B − A)</th></tr></thead>
            <tbody>
              {comparison.map((c) => (
                <tr key={c.scenario}><td>{c.scenario}</td><td>{passRate(c.a.pass_rate)}</td><td>{passRate(c.b.pass_rate)}</td>
                  <td>{ms(c.a.voice_to_voice_p50_ms)}</td><td>{ms(c.b.voice_to_voice_p50_ms)}</td><td>{ms(c.latency_diff_ms)}</td></tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
      {(r.status === "queued" || r.status === "running") && <p aria-busy="true">Running: {results.length} result(s) so far…</p>}
      {results.map((x) => <ResultCard key={x.index} r={x} assistant={name(x.assistant_id)} />)}
      {webhook && (
        <p className="small muted">test-run.completed webhook: <Badge value={webhook.status} />, {webhook.attempts?.length ?? 0} attempt(s){webhook.last_error ? ` (last error: ${webhook.last_error})` : ""}</p>
      )}
    </>
  );
}
