import { useEffect, useRef, useState } from "react";
import WaveSurfer from "wavesurfer.js";
import { alignMessages, speechSegments } from "./align";

type Message = { role: string; content?: string | null };

/** The recording's waveform with a transcript beside it: click a line to seek, the playing line is lit. */
export function RecordingTranscript({ url, messages }: { url: string | null; messages: Message[] }) {
  const box = useRef<HTMLDivElement>(null);
  const ws = useRef<WaveSurfer | null>(null);
  const [times, setTimes] = useState<(number | null)[]>([]);
  const [now, setNow] = useState(0);
  const [playing, setPlaying] = useState(false);
  const [ready, setReady] = useState(false);
  const [error, setError] = useState("");
  const lines = messages.filter((m) => (m.role === "user" || m.role === "assistant" || m.role === "bot") && m.content);

  useEffect(() => {
    if (!url || !box.current) return;
    const w = WaveSurfer.create({
      container: box.current, url, height: 56, waveColor: "#c7d2fe", progressColor: "#4f46e5",
      cursorColor: "#111827", barWidth: 2, barGap: 1, barRadius: 2,
      splitChannels: [{ waveColor: "#fcd34d", progressColor: "#d97706" }, { waveColor: "#c7d2fe", progressColor: "#4f46e5" }],
    });
    ws.current = w;
    w.on("ready", () => {
      setReady(true);
      const audio = w.getDecodedData();
      if (audio) setTimes(alignMessages(lines.map((l) => l.role), speechSegments(audio)));
    });
    w.on("timeupdate", (t) => setNow(t));
    w.on("play", () => setPlaying(true));
    w.on("pause", () => setPlaying(false));
    w.on("error", (e) => setError(String(e)));
    return () => w.destroy();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [url]);

  const current = times.reduce<number>((best, t, i) => (t !== null && t <= now + 0.05 ? i : best), -1);
  return (
    <div>
      {url ? (
        <>
          <div className="wave" ref={box} data-testid="waveform" />
          <div className="player-bar">
            <button className="small" disabled={!ready} onClick={() => void ws.current?.playPause()}>{playing ? "Pause" : "Play"}</button>
            <span className="small muted">{now.toFixed(1)} s · caller (top, amber) and agent (bottom, indigo)</span>
          </div>
          {error && <div className="small error">Recording: {error}</div>}
        </>
      ) : (
        <p className="muted small">No recording for this call.</p>
      )}
      <div className="transcript" style={{ marginTop: "0.75rem" }} data-testid="transcript">
        {lines.map((m, i) => (
          <div key={i} className={`line ${m.role} ${i === current ? "current" : ""}`} data-seek={times[i] ?? ""}
            onClick={() => { const t = times[i]; if (t != null && ws.current) { ws.current.setTime(t); void ws.current.play(); } }}>
            <div className="who">{m.role === "user" ? "Caller" : "Agent"}<div className="t">{times[i] != null ? `${times[i]!.toFixed(1)} s` : ""}</div></div>
            <div>{m.content}</div>
          </div>
        ))}
        {!lines.length && <p className="muted small">No transcript.</p>}
      </div>
    </div>
  );
}
