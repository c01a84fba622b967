import { useEffect, useRef, useState } from "react";
import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip } from "chart.js";
import { api, errorText, type UsageLog } from "../api/client";
import { useLoad } from "../hooks";
import { money } from "../format";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

type Summary = { total_calls: number; total_minutes: number; total_cost: number | string; currency?: string };

function isoDay(d: Date) {
  return d.toISOString().slice(0, 10);
}

/** Minutes and cost per day over a date range, from GET /usage. */
export function UsagePage() {
  const [start, setStart] = useState(() => isoDay(new Date(Date.now() - 29 * 86400e3)));
  const [end, setEnd] = useState(() => isoDay(new Date()));
  const usage = useLoad(async () => {
    const { data, error } = await api.GET("/usage", { params: { query: { start_date: start, end_date: end, limit: 1000 } as never } });
    if (error) throw new Error(errorText(error));
    return data as unknown as { logs: UsageLog[]; summary: Summary; currency: string };
  }, [start, end]);
  const canvas = useRef<HTMLCanvasElement>(null);

  useEffect(() => {
    if (!canvas.current || !usage.data) return;
    const days: string[] = [];
    for (let t = Date.parse(start); t <= Date.parse(end); t += 86400e3) days.push(isoDay(new Date(t)));
    const minutes = new Map(days.map((d) => [d, 0]));
    const calls = new Map(days.map((d) => [d, 0]));
    for (const log of usage.data.logs) {
      const d = String(log.created_at).slice(0, 10);
      minutes.set(d, (minutes.get(d) ?? 0) + Number(log.minutes_used ?? 0));
      calls.set(d, (calls.get(d) ?? 0) + 1);
    }
    const chart = new Chart(canvas.current, {
      type: "bar",
      data: { labels: days.map((d) => d.slice(5)), datasets: [
        { label: "Minutes", data: days.map((d) => minutes.get(d) ?? 0), backgroundColor: "#6366f1", borderRadius: 3, yAxisID: "y" },
        { label: "Calls", data: days.map((d) => calls.get(d) ?? 0), backgroundColor: "#f59e0b", borderRadius: 3, yAxisID: "y" },
      ] },
      options: { responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { position: "bottom" } } },
    });
    return () => chart.destroy();
  }, [usage.data, start, end]);

  const s = usage.data?.summary;
  return (
    <>
      <div className="page-head"><h1>Usage</h1></div>
      <div className="filters card">
        <label>From<input type="date" value={start} onChange={(e) => setStart(e.target.value)} /></label>
        <label>To<input type="date" value={end} onChange={(e) => setEnd(e.target.value)} /></label>
      </div>
      {usage.error && <div className="notice bad">{usage.error}</div>}
      <div className="stats">
        <div className="stat"><div className="label">Calls</div><div className="value">{s?.total_calls ?? "–"}</div></div>
        <div className="stat"><div className="label">Minutes</div><div className="value">{s?.total_minutes ?? "–"}</div></div>
        <div className="stat"><div className="label">Cost</div><div className="value">{s ? money(s.total_cost, usage.data?.currency ?? "EUR") : "–"}</div></div>
      </div>
      <section className="card"><h2>Per day</h2><div className="chart-box"><canvas ref={canvas} role="img" aria-label="Usage per day" /></div></section>
    </>
  );
}
