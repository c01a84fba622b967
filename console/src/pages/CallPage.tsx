import { Fragment } from "react";
import { api, errorText, type Call, type WebhookDelivery } from "../api/client";
import { useLoad, usePoll } from "../hooks";
import { duration, money, when } from "../format";
import { Badge } from "../components/Badge";
import { LatencyChart, type Turn } from "../components/LatencyChart";
import { RecordingTranscript } from "../components/Recording";

export function CallPage({ callId }: { callId: string }) {
  const call = useLoad(async () => {
    const { data, error } = await api.GET("/calls/{call_id}", { params: { path: { call_id: callId } } });
    if (error) throw new Error(errorText(error));
    return data as Call;
  }, [callId]);
  const hooks = useLoad(async () => {
    const { data } = await api.GET("/calls/{call_id}/webhooks", { params: { path: { call_id: callId } } });
    return ((data as { webhooks?: WebhookDelivery[] } | undefined)?.webhooks ?? []) as WebhookDelivery[];
  }, [callId]);
  const c = call.data;
  const active = !!c && ["queued", "ringing", "in-progress"].includes(c.status);
  usePoll(call.reload, 2000, active);

  if (call.error) return <div className="notice bad">{call.error}</div>;
  if (!c) return <p aria-busy="true">Loading call…</p>;
  const latency = (c.latency ?? {}) as { turns?: Turn[]; greeting_ms?: number | null; summary?: Record<string, { p50?: number; avg?: number }> };
  const turns = latency.turns ?? [];
  const costs = (c.costs ?? {}) as Record<string, unknown>;
  const messages = (c.messages ?? []) as { role: string; content?: string | null }[];
  const v2v = latency.summary?.voice_to_voice_ms?.p50;

  return (
    <>
      <div className="crumb"><a href="#/calls">Calls</a></div>
      <div className="page-head">
        <h1>Call with {c.agent_name ?? "assistant"} <Badge value={c.status} /></h1>
        {active && <div className="actions"><a role="button" href={`#/calls/${c.id}/live`}><span className="live-dot" />Live view</a></div>}
      </div>
      <div className="stats">
        <div className="stat"><div className="label">Started</div><div className="value small">{when(c.started_at ?? c.created_at)}</div></div>
        <div className="stat"><div className="label">Duration</div><div className="value">{duration(c.duration_seconds)}</div></div>
        <div className="stat"><div className="label">Direction</div><div className="value">{c.direction}</div></div>
        <div className="stat"><div className="label">End reason</div><div className="value small">{c.end_reason?.replaceAll("_", " ") ?? "–"}</div></div>
        <div className="stat"><div className="label">Voice-to-voice p50</div><div className="value">{v2v != null ? `${Math.round(v2v)} ms` : "–"}</div></div>
        <div className="stat"><div className="label">Cost</div><div className="value">{costs.total != null ? money(costs.total, String(costs.currency ?? "EUR")) : "–"}</div></div>
      </div>
      <div className="grid2">
        <section className="card">
          <h2>Recording and transcript</h2>
          <RecordingTranscript url={c.recording_url ?? null} messages={messages} />
        </section>
        <div>
          <section className="card">
            <h2>Latency per turn</h2>
            {turns.length ? <LatencyChart turns={turns} /> : <p className="muted small">No turns measured.</p>}
            {latency.greeting_ms != null && <p className="small muted">First greeting after answer: {Math.round(latency.greeting_ms)} ms</p>}
          </section>
          <section className="card">
            <h2>Analysis</h2>
            {c.summary ? <p>{c.summary}</p> : <p className="muted small">No summary yet.</p>}
            {c.analysis_result && Object.keys(c.analysis_result).length > 0 && (
              <pre className="json">{JSON.stringify(c.analysis_result, null, 2)}</pre>
            )}
          </section>
          <section className="card">
            <h2>Cost and usage</h2>
            <dl className="kv">
              <dt>Duration</dt><dd>{duration(c.duration_seconds)}</dd>
              <dt>Billed minutes</dt><dd>{c.duration_seconds != null ? Math.ceil(c.duration_seconds / 60) : "–"}</dd>
              {Object.entries(costs).map(([k, v]) => (<Fragment key={k}><dt>{k}</dt><dd>{typeof v === "object" ? JSON.stringify(v) : String(v)}</dd></Fragment>))}
              <dt>Customer</dt><dd>{c.caller_phone ?? c.phone_number ?? "–"}</dd>
              <dt>Call id</dt><dd><code>{c.id}</code></dd>
            </dl>
          </section>
          <section className="card">
            <h2>Webhook deliveries</h2>
            {(hooks.data ?? []).length ? (
              <table className="small">
                <thead><tr><th>Event</th><th>Status</th><th>Attempts</th><th>Last error</th></tr></thead>
                <tbody>
                  {(hooks.data ?? []).map((d) => (
                    <tr key={d.id}><td>{d.event}</td><td><Badge value={d.status} /></td><td>{Array.isArray(d.attempts) ? d.attempts.length : String(d.attempts ?? 0)}</td><td className="muted">{d.last_error ?? "–"}</td></tr>
                  ))}
                </tbody>
              </table>
            ) : <p className="muted small">No webhooks were sent for this call.</p>}
          </section>
        </div>
      </div>
    </>
  );
}
