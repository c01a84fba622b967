import { useEffect, useRef, useState } from "react";
import { createWebCall, WebCall, type TalkEvent } from "./webcall";
import { addLine, type Line, type TranscriptEvent } from "./lines";

/** A link to the assistant page with the Talk panel started. */
export function TalkButton({ assistantId }: { assistantId: string; compact?: boolean }) {
  return (
    <a role="button" className="small" href={`#/assistants/${assistantId}/talk`}>
      Talk
    </a>
  );
}

/** Talk to the assistant from the browser: live transcript and response time per turn. */
export function TalkPanel({ assistantId, autoStart = false }: { assistantId: string; autoStart?: boolean }) {
  const [state, setState] = useState<"idle" | "connecting" | "live" | "ended">("idle");
  const [lines, setLines] = useState<Line[]>([]);
  const [turns, setTurns] = useState<number[]>([]);
  const [callId, setCallId] = useState("");
  const [error, setError] = useState("");
  const [speaking, setSpeaking] = useState<string>("");
  const [audioBytes, setAudioBytes] = useState(0);
  const call = useRef<WebCall | null>(null);
  const userStopped = useRef<number | null>(null);

  function onEvent(e: TalkEvent) {
    if (e.type === "transcript") {
      setLines((prev) => addLine(prev, e as TranscriptEvent));
    } else if (e.type === "speech-update") {
      const s = e as Extract<TalkEvent, { type: "speech-update" }>;
      setSpeaking(s.status === "started" ? s.role : "");
      if (s.role === "user" && s.status === "stopped") userStopped.current = performance.now();
      if (s.role === "assistant" && s.status === "started" && userStopped.current !== null) {
        const ms = Math.round(performance.now() - userStopped.current);
        userStopped.current = null;
        setTurns((prev) => [...prev, ms]);
      }
    } else if (e.type === "call-ended") {
      setState("ended");
    }
  }

  async function start() {
    setError("");
    setLines([]);
    setTurns([]);
    setAudioBytes(0);
    setState("connecting");
    try {
      const info = await createWebCall(assistantId);
      setCallId(info.call_id);
      const c: WebCall = new WebCall(onEvent, () => {
        setAudioBytes(c.bytesIn);
        setState("ended");
      });
      call.current = c;
      await c.start(info);
      setState("live");
    } catch (e) {
      setError((e as Error).message);
      setState("idle");
    }
  }

  // Agent audio received so far (16 kHz s16le: 32,000 bytes a second), read off the call 4 times a second
  // rather than re-rendering on each 20 ms frame.
  useEffect(() => {
    if (state !== "live") return;
    const t = setInterval(() => setAudioBytes(call.current?.bytesIn ?? 0), 250);
    return () => clearInterval(t);
  }, [state]);

  useEffect(() => {
    if (autoStart) void start();
    return () => call.current?.hangUp();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  return (
    <section className="card talk-panel" aria-label="Talk">
      <div className="page-head" style={{ marginBottom: "0.5rem" }}>
        <h2 style={{ margin: 0 }}>
          {state === "live" && <span className="live-dot" />}Talk to this assistant
        </h2>
        <div className="actions">
          {state === "live" || state === "connecting" ? (
            <button className="secondary" onClick={() => call.current?.hangUp()}>
              Hang up
            </button>
          ) : (
            <button onClick={() => void start()}>{state === "ended" ? "Talk again" : "Talk"}</button>
          )}
        </div>
      </div>
      {error && <div className="notice bad">{error}</div>}
      {state === "idle" && !error && (
        <p className="muted small">Starts a browser call on the same voice loop as phone calls (microphone needed).</p>
      )}
      {(lines.length > 0 || state === "live") && (
        <div className="grid2">
          <div className="transcript" data-testid="talk-transcript">
            {lines.map((l, i) => (
              <div key={i} className={`line ${l.role} ${l.final ? "" : "partial"}`}>
                <div className="who">{l.role === "user" ? "You" : "Agent"}</div>
                <div>{l.text}</div>
              </div>
            ))}
            {speaking && <div className="muted small">{speaking === "user" ? "You are speaking…" : "Agent is speaking…"}</div>}
          </div>
          <div>
            <h3>Response time per turn</h3>
            <ol className="small">
              {turns.map((ms, i) => (
                <li key={i}>{ms} ms</li>
              ))}
            </ol>
            <p className="small muted" data-testid="talk-audio" data-bytes={audioBytes}>
              Agent audio received: {(audioBytes / 32000).toFixed(1)} s
            </p>
            {callId && (
              <a href={`#/calls/${callId}`} className="small">
                Open the call record
              </a>
            )}
          </div>
        </div>
      )}
    </section>
  );
}
