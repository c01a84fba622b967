import { useState } from "react";
import { api, errorText, type Call } from "../api/client";
import { useLoad, usePoll } from "../hooks";
import { duration, when } from "../format";
import { Badge } from "../components/Badge";

type Command =
  | { type: "say"; content: string }
  | { type: "inject-context"; content: string; trigger_response?: boolean }
  | { type: "transfer"; destination: string }
  | { type: "end-call" };

/** An in-progress call: its transcript as it grows, and the four control commands. */
export function LiveView({ callId }: { callId: string }) {
  const call = useLoad(async () => {
    const { data, error } = await api.GET("/calls/{call_id}", { params: { path: { call_id: callId } } });
    if (error) throw new Error(errorText(error));
    return data as Call;
  }, [callId]);
  const c = call.data;
  const live = !c || ["queued", "ringing", "in-progress"].includes(c.status);
  usePoll(call.reload, 1000, live);
  const [say, setSay] = useState("");
  const [context, setContext] = useState("");
  const [respond, setRespond] = useState(true);
  const [destination, setDestination] = useState("");
  const [log, setLog] = useState<{ text: string; ok: boolean }[]>([]);

  async function send(cmd: Command, label: string) {
    const { error, response } = await api.POST("/calls/{call_id}/control", {
      params: { path: { call_id: callId } }, body: cmd as never,
    });
    setLog((prev) => [{ text: error ? `${label}: ${errorText(error)}` : `${label}: sent (${response.status})`, ok: !error }, ...prev]);
    return !error;
  }

  if (call.error) return <div className="notice bad">{call.error}</div>;
  if (!c) return <p aria-busy="true">Connecting…</p>;
  const messages = ((c.messages ?? []) as { role: string; content?: string | null }[])
    .filter((m) => (m.role === "user" || m.role === "assistant" || m.role === "bot") && m.content);
  const canControl = c.status === "in-progress";

  return (
    <>
      <div className="crumb"><a href="#/calls">Calls</a></div>
      <div className="page-head">
        <h1>{live && <span className="live-dot" />}Live: {c.agent_name ?? "call"} <Badge value={c.status} /></h1>
        <div className="actions"><a role="button" className="secondary outline" href={`#/calls/${c.id}`}>Call record</a></div>
      </div>
      <div className="stats">
        <div className="stat"><div className="label">Started</div><div className="value small">{when(c.started_at ?? c.created_at)}</div></div>
        <div className="stat"><div className="label">Direction</div><div className="value">{c.direction}</div></div>
        <div className="stat"><div className="label">Customer</div><div className="value small">{c.caller_phone ?? c.phone_number ?? "–"}</div></div>
        <div className="stat"><div className="label">{live ? "Status" : "Duration"}</div><div className="value small">{live ? c.status : duration(c.duration_seconds)}</div></div>
      </div>
      <div className="grid2">
        <section className="card">
          <h2>Transcript</h2>
          <div className="transcript" data-testid="live-transcript">
            {messages.map((m, i) => (
              <div key={i} className={`line ${m.role}`}><div className="who">{m.role === "user" ? "Caller" : "Agent"}</div><div>{m.content}</div></div>
            ))}
            {!messages.length && <p className="muted small">The call record carries the transcript when the call ends; live listen-in is not wired yet.</p>}
          </div>
        </section>
        <section className="card controls" aria-label="Call control">
          <h2>Control</h2>
          {!canControl && <div className="notice bad small">The call is not in progress; commands are refused.</div>}
          <form onSubmit={async (e) => { e.preventDefault(); if (await send({ type: "say", content: say }, "Say")) setSay(""); }}>
            <input name="say" placeholder="Say something to the caller…" value={say} onChange={(e) => setSay(e.target.value)} required />
            <button type="submit" disabled={!canControl || !say.trim()}>Say</button>
          </form>
          <form onSubmit={async (e) => { e.preventDefault(); if (await send({ type: "inject-context", content: context, trigger_response: respond }, "Inject context")) setContext(""); }}>
            <input name="context" placeholder="Context for the agent (not spoken)…" value={context} onChange={(e) => setContext(e.target.value)} required />
            <button type="submit" className="secondary" disabled={!canControl || !context.trim()}>Inject context</button>
          </form>
          <label className="small"><input type="checkbox" checked={respond} onChange={(e) => setRespond(e.target.checked)} />Let the agent respond to the context</label>
          <form onSubmit={(e) => { e.preventDefault(); void send({ type: "transfer", destination }, "Transfer"); }}>
            <input name="destination" placeholder="+14155550123 or sip:agent@pbx.example.com" value={destination} onChange={(e) => setDestination(e.target.value)} required />
            <button type="submit" className="secondary" disabled={!canControl || !destination.trim()}>Transfer</button>
          </form>
          <button className="contrast" disabled={!canControl} onClick={() => void send({ type: "end-call" }, "End call")}>End call</button>
          <ul className="small" data-testid="control-log" style={{ marginTop: "0.75rem" }}>
            {log.map((l, i) => <li key={i} className={l.ok ? "" : "error"}>{l.text}</li>)}
          </ul>
        </section>
      </div>
    </>
  );
}
