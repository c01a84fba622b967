import { useEffect, useRef } from "react";
import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip } from "chart.js";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

export type Turn = {
  turn?: number;
  endpointing_ms?: number | null;
  stt_ms?: number | null;
  llm_first_token_ms?: number | null;
  tts_first_audio_ms?: number | null;
  voice_to_voice_ms?: number | null;
  interrupted?: boolean;
};

const PARTS: [keyof Turn, string, string][] = [
  ["stt_ms", "STT", "#a5b4fc"],
  ["endpointing_ms", "Endpointing", "#6366f1"],
  ["llm_first_token_ms", "LLM first token", "#f59e0b"],
  ["tts_first_audio_ms", "TTS first audio", "#10b981"],
];

/** Per-turn latency, stacked in the order the time is spent. */
export function LatencyChart({ turns }: { turns: Turn[] }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!canvas.current) return;
    const chart = new Chart(canvas.current, {
      type: "bar",
      data: {
        labels: turns.map((t, i) => `Turn ${t.turn ?? i + 1}`),
        datasets: PARTS.map(([key, label, color]) => ({
          label, backgroundColor: color, borderRadius: 3,
          data: turns.map((t) => (typeof t[key] === "number" ? Math.round(t[key] as number) : 0)),
        })),
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: { x: { stacked: true }, y: { stacked: true, title: { display: true, text: "ms" } } },
        plugins: {
          legend: { position: "bottom" },
          tooltip: { callbacks: { footer: (items) => {
            const t = turns[items[0]?.dataIndex ?? 0];
            return t?.voice_to_voice_ms != null ? `Voice-to-voice: ${Math.round(t.voice_to_voice_ms)} ms` : "";
          } } },
        },
      },
    });
    return () => chart.destroy();
  }, [turns]);
  return <div className="chart-box"><canvas ref={canvas} aria-label="Per-turn latency chart" role="img" /></div>;
}
