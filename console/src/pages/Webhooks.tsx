import { useEffect, useState } from "react";
import { api, errorText, type Assistant } from "../api/client";
import { useLoad } from "../hooks";
import { enumOf, schemaOf, validate } from "../api/schema-validate";

// events null: the assistant keeps the platform's default events (nothing is sent for them).
type Draft = { url: string; secret: string; events: string[] | null };

/** Where each assistant's webhooks go: URL, signing secret (write-only) and the events it subscribes to. */
export function WebhooksPage() {
  const assistants = useLoad(async () => {
    const { data, error } = await api.GET("/assistants", { params: { query: { limit: 500 } } });
    if (error) throw new Error(errorText(error));
    return data.assistants as Assistant[];
  });
  const [allEvents, setAllEvents] = useState<string[]>([]);
  const [editing, setEditing] = useState<Assistant | null>(null);
  const [draft, setDraft] = useState<Draft>({ url: "", secret: "", events: null });
  const [problems, setProblems] = useState<string[]>([]);
  const [saved, setSaved] = useState("");

  useEffect(() => {
    void schemaOf("AssistantUpdate").then((s) => setAllEvents(enumOf(s.properties?.webhook_events)));
  }, []);

  function edit(a: Assistant) {
    setEditing(a);
    setSaved("");
    setProblems([]);
    setDraft({ url: a.webhook_url ?? "", secret: "", events: a.webhook_events ? [...a.webhook_events] : null });
  }

  async function save(e: React.FormEvent) {
    e.preventDefault();
    if (!editing) return;
    // The secret is write-only: sent only when a new one was typed, never read back.
    const body = { webhook_url: draft.url.trim() || null, ...(draft.events ? { webhook_events: draft.events } : {}),
      ...(draft.secret ? { webhook_secret: draft.secret } : {}) };
    const errors = validate("AssistantUpdate", body);
    if (errors.length) return setProblems(errors);
    const { error } = await api.PATCH("/assistants/{assistant_id}", {
      params: { path: { assistant_id: editing.id } }, body: body as never,
    });
    if (error) return setProblems([errorText(error)]);
    setProblems([]);
    setEditing(null);
    setDraft({ url: "", secret: "", events: null });
    await assistants.reload(); // the table shows the stored settings before the page says they are saved
    setSaved(`Webhook settings of ${editing.name} saved.`);
  }

  const toggle = (ev: string) =>
    setDraft((d) => {
      const events = d.events ?? [];
      return { ...d, events: events.includes(ev) ? events.filter((x) => x !== ev) : [...events, ev] };
    });

  return (
    <>
      <div className="page-head">
        <h1>Webhooks</h1>
      </div>
      <p className="muted small">
        Each assistant sends its events to its own URL, signed with its secret (<code>X-Webhook-Signature</code>,
        see the API reference). Secrets are write-only: the console only shows whether one is set.
      </p>
      {assistants.error && <div className="notice bad">{assistants.error}</div>}
      {saved && <div className="notice ok">{saved}</div>}
      <div className="table-wrap">
        <table>
          <thead>
            <tr><th>Assistant</th><th>URL</th><th>Secret</th><th>Events</th><th></th></tr>
          </thead>
          <tbody>
            {(assistants.data ?? []).map((a) => (
              <tr key={a.id} data-assistant-id={a.id}>
                <td><strong>{a.name}</strong></td>
                <td className="small">{a.webhook_url ?? <span className="muted">none</span>}</td>
                <td className="small">{a.webhook_secret_set ? "set" : <span className="muted">not set</span>}</td>
                <td className="small">{(a.webhook_events ?? []).join(", ") || <span className="muted">defaults</span>}</td>
                <td><button className="secondary outline small" onClick={() => edit(a)}>Edit</button></td>
              </tr>
            ))}
          </tbody>
        </table>
        {!assistants.loading && !assistants.data?.length && <div className="empty">No assistants yet.</div>}
      </div>
      {editing && (
        <form className="card" onSubmit={save} aria-label="Webhook settings" noValidate>
          <h2>Webhooks of {editing.name}</h2>
          {problems.length > 0 && (
            <div className="notice bad" role="alert"><ul>{problems.map((p) => <li key={p}>{p}</li>)}</ul></div>
          )}
          <label>Webhook URL
            <input type="url" value={draft.url} placeholder="https://example.com/voice-webhook"
              onChange={(e) => setDraft({ ...draft, url: e.target.value })} />
          </label>
          <label>New secret
            <input type="password" autoComplete="new-password" value={draft.secret}
              placeholder={editing.webhook_secret_set ? "set (leave empty to keep it)" : "not set"}
              onChange={(e) => setDraft({ ...draft, secret: e.target.value })} />
          </label>
          <fieldset>
            <legend className="small">Events</legend>
            {draft.events === null && <p className="small muted">The default events; tick some to choose your own.</p>}
            {allEvents.map((ev) => (
              <label key={ev}><input type="checkbox" checked={!!draft.events?.includes(ev)} onChange={() => toggle(ev)} />{ev}</label>
            ))}
          </fieldset>
          <div className="actions" style={{ display: "flex", gap: "0.5rem", justifyContent: "flex-end" }}>
            <button type="button" className="secondary outline" style={{ width: "auto" }} onClick={() => setEditing(null)}>Cancel</button>
            <button type="submit" style={{ width: "auto" }}>Save webhook settings</button>
          </div>
        </form>
      )}
    </>
  );
}
