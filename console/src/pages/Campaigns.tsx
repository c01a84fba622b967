import { api, errorText, type Campaign, type Lead } from "../api/client";
import { useLoad, usePoll } from "../hooks";
import { when } from "../format";
import { go } from "../router";
import { Badge } from "../components/Badge";

function Progress({ c }: { c: Campaign }) {
  const total = c.total_leads ?? 0;
  const done = (c.completed_leads ?? 0) + (c.failed_leads ?? 0);
  return (
    <div className="progress-row">
      <progress value={done} max={Math.max(total, 1)} />
      <span className="small muted">{done}/{total}</span>
    </div>
  );
}

export function CampaignsPage() {
  const list = useLoad(async () => {
    const { data, error } = await api.GET("/campaigns", { params: { query: { limit: 200 } } });
    if (error) throw new Error(errorText(error));
    return data.campaigns as Campaign[];
  });
  usePoll(list.reload, 3000, (list.data ?? []).some((c) => c.status === "running"));
  return (
    <>
      <div className="page-head"><h1>Campaigns</h1></div>
      {list.error && <div className="notice bad">{list.error}</div>}
      <div className="table-wrap">
        <table>
          <thead><tr><th>Name</th><th>Status</th><th>Progress</th><th>Completed</th><th>Failed</th><th>Pending</th><th>Active calls</th></tr></thead>
          <tbody>
            {(list.data ?? []).map((c) => (
              <tr key={c.id} className="link" onClick={() => go(`campaigns/${c.id}`)}>
                <td><strong>{c.name}</strong></td><td><Badge value={c.status} /></td><td style={{ minWidth: 180 }}><Progress c={c} /></td>
                <td>{c.completed_leads ?? 0}</td><td>{c.failed_leads ?? 0}</td><td>{c.pending_leads ?? 0}</td><td>{c.active_calls ?? 0}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {!list.loading && !list.data?.length && <div className="empty">No campaigns yet (create them with POST /campaigns).</div>}
      </div>
    </>
  );
}

export function CampaignPage({ campaignId }: { campaignId: string }) {
  const camp = useLoad(async () => {
    const { data, error } = await api.GET("/campaigns/{campaign_id}", { params: { path: { campaign_id: campaignId } } });
    if (error) throw new Error(errorText(error));
    return (data as { campaign: Campaign }).campaign;
  }, [campaignId]);
  const leads = useLoad(async () => {
    const { data } = await api.GET("/campaigns/{campaign_id}/leads", { params: { path: { campaign_id: campaignId }, query: { limit: 500 } } });
    return ((data as { leads?: Lead[] } | undefined)?.leads ?? []) as Lead[];
  }, [campaignId]);
  const c = camp.data;
  usePoll(camp.reload, 3000, c?.status === "running");
  usePoll(leads.reload, 3000, c?.status === "running");

  async function setStatus(status: "paused" | "scheduled") {
    const { error } = await api.PATCH("/campaigns/{campaign_id}", { params: { path: { campaign_id: campaignId } }, body: { status } as never });
    if (error) alert(errorText(error));
    void camp.reload();
  }
  if (camp.error) return <div className="notice bad">{camp.error}</div>;
  if (!c) return <p aria-busy="true">Loading…</p>;
  return (
    <>
      <div className="crumb"><a href="#/campaigns">Campaigns</a></div>
      <div className="page-head">
        <h1>{c.name} <Badge value={c.status} /></h1>
        <div className="actions">
          {c.status === "running" || c.status === "scheduled" ? (
            <button className="secondary" onClick={() => void setStatus("paused")}>Pause</button>
          ) : c.status === "paused" ? (
            <button onClick={() => void setStatus("scheduled")}>Resume</button>
          ) : null}
        </div>
      </div>
      {c.error && <div className="notice bad">{c.error}</div>}
      <div className="stats">
        {([["Total", c.total_leads], ["Completed", c.completed_leads], ["Failed", c.failed_leads], ["Pending", c.pending_leads], ["Active calls", c.active_calls]] as const).map(([l, v]) => (
          <div className="stat" key={l}><div className="label">{l}</div><div className="value">{v ?? 0}</div></div>
        ))}
      </div>
      <div className="card"><Progress c={c} /><p className="small muted">Window {c.schedule_start_time ?? "–"}–{c.schedule_end_time ?? "–"} {c.timezone ?? ""}, up to {c.max_concurrent_calls} calls at once, {c.max_attempts} attempts.</p></div>
      <div className="table-wrap">
        <table>
          <thead><tr><th>Lead</th><th>Phone</th><th>Status</th><th>Attempts</th><th>Last outcome</th><th>Next attempt</th><th>Call</th></tr></thead>
          <tbody>
            {(leads.data ?? []).map((l) => (
              <tr key={l.id}><td>{l.name ?? "–"}</td><td className="small">{l.phone_number}</td><td><Badge value={l.status} /></td><td>{l.attempts ?? 0}</td>
                <td className="small muted">{l.last_outcome ?? "–"}</td><td className="small">{when(l.next_attempt_at)}</td>
                <td>{l.call_id ? <a href={`#/calls/${l.call_id}`}>open</a> : "–"}</td></tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
