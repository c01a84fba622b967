import { useState } from "react";
import { api, errorText, type Assistant, type Call, type Campaign } from "../api/client";
import { useLoad, usePoll } from "../hooks";
import { duration, when } from "../format";
import { go } from "../router";
import { Badge } from "../components/Badge";

type Filters = { status: string; direction: string; assistant: string; campaign: string; start: string; end: string };

function initialFilters(): Filters {
  const q = new URLSearchParams(window.location.hash.split("?")[1] ?? "");
  return { status: q.get("status") ?? "", direction: q.get("direction") ?? "", assistant: q.get("assistant_id") ?? "",
    campaign: q.get("campaign_id") ?? "", start: q.get("start_date") ?? "", end: q.get("end_date") ?? "" };
}

export function CallsPage() {
  const [f, setF] = useState<Filters>(initialFilters);
  // Every filter is GET /calls' own, so the counts and pages are the server's.
  const calls = useLoad(async () => {
    const query: Record<string, string | number> = { limit: 500 };
    if (f.status) query.status = f.status;
    if (f.direction) query.direction = f.direction;
    if (f.assistant) query.assistant_id = f.assistant;
    if (f.campaign) query.campaign_id = f.campaign;
    if (f.start) query.start_date = f.start;
    if (f.end) query.end_date = f.end;
    const { data, error } = await api.GET("/calls", { params: { query: query as never } });
    if (error) throw new Error(errorText(error));
    return { calls: data.calls as Call[], total: (data.pagination as { total?: number } | undefined)?.total };
  }, [f.status, f.direction, f.assistant, f.campaign, f.start, f.end]);
  const assistants = useLoad(async () => ((await api.GET("/assistants", { params: { query: { limit: 500 } } })).data?.assistants ?? []) as Assistant[]);
  const campaigns = useLoad(async () => ((await api.GET("/campaigns", { params: { query: { limit: 500 } } })).data?.campaigns ?? []) as Campaign[]);
  const rows = calls.data?.calls ?? [];
  const live = rows.some((c) => c.status === "in-progress" || c.status === "ringing" || c.status === "queued");
  usePoll(calls.reload, 3000, live);
  const set = (k: keyof Filters, v: string) => setF({ ...f, [k]: v });

  return (
    <>
      <div className="page-head">
        <h1>Calls</h1>
        <div className="actions">
          <button className="secondary outline small" onClick={() => void calls.reload()} aria-busy={calls.loading}>Refresh</button>
        </div>
      </div>
      <div className="filters card" role="search">
        <label>Status
          <select name="status" value={f.status} onChange={(e) => set("status", e.target.value)}>
            <option value="">Any</option>
            <option value="connecting">Connecting</option>
            <option value="in-progress">In progress</option>
            <option value="ended">Ended</option>
            <option value="failed">Failed</option>
          </select>
        </label>
        <label>Direction
          <select name="direction" value={f.direction} onChange={(e) => set("direction", e.target.value)}>
            <option value="">Any</option>
            <option value="inbound">Inbound</option>
            <option value="outbound">Outbound</option>
            <option value="web">Web</option>
          </select>
        </label>
        <label>Assistant
          <select name="assistant" value={f.assistant} onChange={(e) => set("assistant", e.target.value)}>
            <option value="">Any</option>
            {(assistants.data ?? []).map((a) => <option key={a.id} value={a.id}>{a.name}</option>)}
          </select>
        </label>
        <label>Campaign
          <select name="campaign" value={f.campaign} onChange={(e) => set("campaign", e.target.value)}>
            <option value="">Any</option>
            {(campaigns.data ?? []).map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
          </select>
        </label>
        <label>From<input type="date" name="start_date" value={f.start} onChange={(e) => set("start", e.target.value)} /></label>
        <label>To<input type="date" name="end_date" value={f.end} onChange={(e) => set("end", e.target.value)} /></label>
      </div>
      {calls.error && <div className="notice bad">{calls.error}</div>}
      {calls.data?.total !== undefined && (
        <p className="small muted" data-testid="calls-total">
          {calls.data.total === rows.length
            ? `${rows.length} call${rows.length === 1 ? "" : "s"}`
            : `Newest ${rows.length} of ${calls.data.total} calls`}
        </p>
      )}
      <div className="table-wrap">
        <table>
          <thead>
            <tr><th>Started</th><th>Assistant</th><th>Direction</th><th>Customer</th><th>Status</th><th>Duration</th><th>End reason</th></tr>
          </thead>
          <tbody>
            {rows.map((c) => (
              <tr key={c.id} className="link" data-call-id={c.id}
                onClick={() => go(c.status === "in-progress" ? `calls/${c.id}/live` : `calls/${c.id}`)}>
                <td className="small">{when(c.started_at ?? c.created_at)}</td>
                <td>{c.agent_name ?? "–"}</td>
                <td className="small">{c.direction}</td>
                <td className="small">{c.caller_phone ?? c.phone_number ?? "–"}</td>
                <td>{c.status === "in-progress" && <span className="live-dot" />}<Badge value={c.status} /></td>
                <td className="small">{duration(c.duration_seconds)}</td>
                <td className="small muted">{c.end_reason ?? "–"}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {!calls.loading && rows.length === 0 && <div className="empty">No calls match these filters.</div>}
      </div>
    </>
  );
}
