import { useEffect, useRef, useState } from "react";
import { api, errorText, type Call } from "../api/client";
import { addLine, type Line, type TranscriptEvent } from "../talk/lines";
import { MonitorSocket } from "../talk/monitor";
import type { TalkEvent } from "../talk/webcall";
import { useLoad, usePoll } from "../hooks";
import { duration, when } from "../format";
import { Badge } from "../components/Badge";

type Command =
  | { type: "say"; content: string }
  | { type: "inject-context"; content: string; trigger_response?: boolean }
  | { type: "transfer"; destination: string }
  | { type: "end-call" };

/** An in-progress call: its transcript as it happens (the monitor socket), listen-in, and the four control commands. */
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
  const live$ = useLiveTranscript(c?.monitor?.listen_url ?? null);

  async function send(cmd: Command, label: string) {
    const { error, response } = await api.POST("/calls/{call_id}/control", {
      params: { path: { call_id: callId } }, body: cmd as never,
    });
    setLog((prev) => [{ text: error ? `${label}: ${errorText(error)}` : `${label}: sent (${response.status})`, ok: !error }, ...prev]);
    return !error;
  }

  if (call.error) return <div className="notice bad">{call.error}</div>;
  if (!c) return <p aria-busy="true">Connecting…</p>;
  // The record's transcript once the call has ended (what the caller heard); the socket's lines before.
  const stored = ((c.messages ?? []) as { role: string; content?: string | null }[])
    .filter((m) => (m.role === "user" || m.role === "assistant" || m.role === "bot") && m.content)
    .map((m): Line => ({ role: m.role === "user" ? "user" : "assistant", text: m.content ?? "", final: true }));
  const lines = !live && stored.length ? stored : live$.lines;
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
          <div className="page-head" style={{ marginBottom: "0.5rem" }}>
            <h2 style={{ margin: 0 }}>Transcript</h2>
            {live$.link === "connected" && (
              <button className="secondary outline small" onClick={() => void live$.toggleListen()} aria-pressed={live$.listening}>
                {live$.listening ? "Stop listening" : "Listen in"}
              </button>
            )}
          </div>
          <p className="small muted" data-testid="speech-status" data-caller-seconds={live$.seconds.caller} data-agent-seconds={live$.seconds.agent}>
            {live$.link === "connected" ? (
              <>
                <span className={`pill ${live$.speaking.user ? "on" : ""}`}>Caller {live$.speaking.user ? "speaking" : "silent"}</span>{" "}
                <span className={`pill ${live$.speaking.assistant ? "on" : ""}`}>Agent {live$.speaking.assistant ? "speaking" : "silent"}</span>{" "}
                · audio received: caller {live$.seconds.caller.toFixed(1)} s, agent {live$.seconds.agent.toFixed(1)} s
              </>
            ) : live$.link === "closed" ? "The live feed has closed." : live ? "Connecting to the live feed…" : ""}
          </p>
          <div className="transcript" data-testid="live-transcript">
            {lines.map((m, i) => (
              <div key={i} className={`line ${m.role} ${m.final ? "" : "partial"}`}><div className="who">{m.role === "user" ? "Caller" : "Agent"}</div><div>{m.text}</div></div>
            ))}
            {!lines.length && <p className="muted small">{live ? "Lines appear here as they are spoken." : "No transcript."}</p>}
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

/** Follow the call's monitor socket: lines as they are spoken, who is speaking, audio received, listen-in. */
function useLiveTranscript(listenUrl: string | null) {
  const monitor = useRef<MonitorSocket | null>(null);
  const ended = useRef(false);
  const [lines, setLines] = useState<Line[]>([]);
  const [speaking, setSpeaking] = useState({ user: false, assistant: false });
  const [link, setLink] = useState<"waiting" | "connected" | "closed">("waiting");
  const [listening, setListening] = useState(false);
  const [seconds, setSeconds] = useState({ caller: 0, agent: 0 });

  useEffect(() => {
    // GET /calls/{id} hands out a fresh URL on every poll: connect once, again only if the socket dropped.
    if (!listenUrl || monitor.current || ended.current) return;
    const m = new MonitorSocket((e: TalkEvent) => {
      if (e.type === "transcript") setLines((prev) => addLine(prev, e as TranscriptEvent));
      else if (e.type === "speech-update") {
        const s = e as Extract<TalkEvent, { type: "speech-update" }>;
        setSpeaking((prev) => ({ ...prev, [s.role]: s.status === "started" }));
      } else if (e.type === "call-ended") ended.current = true;
    }, () => {
      monitor.current = null;
      setListening(false);
      setSpeaking({ user: false, assistant: false });
      setLink("closed");
    });
    monitor.current = m;
    m.connect(listenUrl);
    setLink("connected");
  }, [listenUrl]);

  useEffect(() => {
    // Audio counters 2 times a second rather than a render per 20 ms frame.
    const t = setInterval(() => {
      const b = monitor.current?.audioBytes;
      if (b) setSeconds({ caller: b.caller / 32000, agent: b.agent / 32000 });
    }, 500);
    return () => {
      clearInterval(t);
      monitor.current?.close();
      monitor.current = null;
    };
  }, []);

  async function toggleListen() {
    const m = monitor.current;
    if (!m) return;
    if (m.listening) m.mute();
    else await m.listen();
    setListening(m.listening);
  }

  return { lines, speaking, link, listening, seconds, toggleListen };
}
