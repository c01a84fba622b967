import { useState } from "react";
import { api, errorText, type Assistant, type PhoneNumber } from "../api/client";
import { useLoad } from "../hooks";
import { Badge } from "../components/Badge";

export function NumbersPage() {
  const list = useLoad(async () => {
    const { data, error } = await api.GET("/numbers", { params: { query: { limit: 500 } } });
    if (error) throw new Error(errorText(error));
    return data.numbers as PhoneNumber[];
  });
  const assistants = useLoad(async () => ((await api.GET("/assistants", { params: { query: { limit: 500 } } })).data?.assistants ?? []) as Assistant[]);
  const [form, setForm] = useState({ phone_number: "", name: "", agent_id: "" });
  const [error, setError] = useState("");

  async function add(e: React.FormEvent) {
    e.preventDefault();
    const body = { phone_number: form.phone_number, name: form.name || undefined, agent_id: form.agent_id || undefined };
    const { error } = await api.POST("/numbers", { body: body as never });
    setError(error ? errorText(error) : "");
    if (!error) { setForm({ phone_number: "", name: "", agent_id: "" }); void list.reload(); }
  }
  async function assign(n: PhoneNumber, agent_id: string) {
    const { error } = await api.PATCH("/numbers/{number_id}", { params: { path: { number_id: n.id } }, body: { agent_id: agent_id || null } as never });
    setError(error ? errorText(error) : "");
    void list.reload();
  }
  return (
    <>
      <div className="page-head"><h1>Phone numbers</h1></div>
      {(error || list.error) && <div className="notice bad">{error || list.error}</div>}
      <div className="table-wrap">
        <table>
          <thead><tr><th>Number</th><th>Name</th><th>Assistant</th><th>Source</th><th>Status</th></tr></thead>
          <tbody>
            {(list.data ?? []).map((n) => (
              <tr key={n.id}>
                <td><strong>{n.phone_number}</strong></td><td>{n.name ?? "–"}</td>
                <td>
                  <select value={n.agent_id ?? ""} onChange={(e) => void assign(n, e.target.value)} style={{ margin: 0 }} aria-label={`Assistant of ${n.phone_number}`}>
                    <option value="">None</option>
                    {(assistants.data ?? []).map((a) => <option key={a.id} value={a.id}>{a.name}</option>)}
                  </select>
                </td>
                <td className="small muted">{n.source ?? "–"}</td><td><Badge value={n.is_active === false ? "inactive" : "active"} /></td>
              </tr>
            ))}
          </tbody>
        </table>
        {!list.loading && !list.data?.length && <div className="empty">No numbers yet.</div>}
      </div>
      <form className="card" onSubmit={add}>
        <h2>Add a number</h2>
        <div className="grid3">
          <label>Phone number (E.164)<input name="phone_number" placeholder="+14155550100" value={form.phone_number} onChange={(e) => setForm({ ...form, phone_number: e.target.value })} required /></label>
          <label>Name<input name="name" value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} /></label>
          <label>Assistant
            <select name="agent_id" value={form.agent_id} onChange={(e) => setForm({ ...form, agent_id: e.target.value })}>
              <option value="">None</option>
              {(assistants.data ?? []).map((a) => <option key={a.id} value={a.id}>{a.name}</option>)}
            </select>
          </label>
        </div>
        <div className="form-actions"><button type="submit">Add number</button></div>
      </form>
    </>
  );
}
