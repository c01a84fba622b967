import { api, errorText, type Assistant } from "../api/client";
import { useLoad } from "../hooks";
import { when } from "../format";
import { go } from "../router";
import { Badge } from "../components/Badge";
import { TalkButton } from "../talk/TalkPanel";

export function AssistantsPage() {
  const { data, error, loading } = useLoad(async () => {
    const { data, error } = await api.GET("/assistants", { params: { query: { limit: 200 } } });
    if (error) throw new Error(errorText(error));
    return data.assistants as Assistant[];
  });
  return (
    <>
      <div className="page-head">
        <h1>Assistants</h1>
        <div className="actions">
          <a role="button" href="#/assistants/new">
            New assistant
          </a>
        </div>
      </div>
      {error && <div className="notice bad">{error}</div>}
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Voice pipeline</th>
              <th>First message</th>
              <th>Status</th>
              <th>Updated</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {(data ?? []).map((a) => (
              <tr key={a.id} className="link" onClick={() => go(`assistants/${a.id}`)}>
                <td>
                  <strong>{a.name}</strong>
                  {a.business_name && <div className="muted small">{a.business_name}</div>}
                </td>
                <td className="small">
                  {[a.stt_config?.provider, a.llm_config?.model ?? a.llm_config?.provider, a.tts_config?.provider]
                    .filter(Boolean)
                    .join(" · ") || "defaults"}
                </td>
                <td className="small muted">{a.first_message ?? "–"}</td>
                <td>
                  <Badge value={a.is_active === false ? "inactive" : "active"} />
                </td>
                <td className="small">{when(a.updated_at)}</td>
                <td onClick={(e) => e.stopPropagation()} className="row-actions">
                  <a href={`#/assistants/${a.id}/duplicate`} className="small">
                    Duplicate
                  </a>{" "}
                  <TalkButton assistantId={a.id} compact />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {!loading && !data?.length && <div className="empty">No assistants yet. Create one to get started.</div>}
      </div>
    </>
  );
}
