import { useState } from "react";
import { api, errorText, type SipTrunk } from "../api/client";
import { useLoad } from "../hooks";

const EMPTY = { name: "", host: "", port: "5060", transport: "udp", username: "", password: "" };

export function TrunksPage() {
  const list = useLoad(async () => {
    const { data, error } = await api.GET("/sip-trunks", { params: { query: { limit: 500 } } });
    if (error) throw new Error(errorText(error));
    return data.trunks as SipTrunk[];
  });
  const [f, setF] = useState(EMPTY);
  const [error, setError] = useState("");
  async function add(e: React.FormEvent) {
    e.preventDefault();
    const body = { name: f.name, host: f.host, port: Number(f.port), transport: f.transport, username: f.username || undefined, password: f.password || undefined };
    const { error } = await api.POST("/sip-trunks", { body: body as never });
    setError(error ? errorText(error) : "");
    if (!error) { setF(EMPTY); void list.reload(); }
  }
  async function remove(t: SipTrunk) {
    const { error } = await api.DELETE("/sip-trunks/{trunk_id}", { params: { path: { trunk_id: t.id } } });
    setError(error ? errorText(error) : "");
    void list.reload();
  }
  return (
    <>
      <div className="page-head"><h1>SIP trunks</h1></div>
      {(error || list.error) && <div className="notice bad">{error || list.error}</div>}
      <div className="table-wrap">
        <table>
          <thead><tr><th>Name</th><th>Host</th><th>Transport</th><th>Username</th><th>Password</th><th></th></tr></thead>
          <tbody>
            {(list.data ?? []).map((t) => (
              <tr key={t.id}><td><strong>{t.name}</strong></td><td className="small">{t.host}:{t.port}</td><td>{t.transport}</td><td>{t.username ?? "–"}</td>
                <td className="small muted">{t.password_set ? "set" : "not set"}</td>
                <td><button className="secondary outline small" onClick={() => void remove(t)}>Delete</button></td></tr>
            ))}
          </tbody>
        </table>
        {!list.loading && !list.data?.length && <div className="empty">No SIP trunks. Add one to transfer calls to your PBX.</div>}
      </div>
      <form className="card" onSubmit={add}>
        <h2>Add a trunk</h2>
        <div className="grid3">
          <label>Name<input name="name" value={f.name} onChange={(e) => setF({ ...f, name: e.target.value })} required /></label>
          <label>Host<input name="host" placeholder="pbx.example.com" value={f.host} onChange={(e) => setF({ ...f, host: e.target.value })} required /></label>
          <label>Port<input name="port" inputMode="numeric" value={f.port} onChange={(e) => setF({ ...f, port: e.target.value })} /></label>
          <label>Transport<select name="transport" value={f.transport} onChange={(e) => setF({ ...f, transport: e.target.value })}><option>udp</option><option>tcp</option><option>tls</option></select></label>
          <label>Username<input name="username" value={f.username} onChange={(e) => setF({ ...f, username: e.target.value })} /></label>
          <label>Password<input name="password" type="password" autoComplete="new-password" value={f.password} onChange={(e) => setF({ ...f, password: e.target.value })} /></label>
        </div>
        <div className="form-actions"><button type="submit">Add trunk</button></div>
      </form>
    </>
  );
}
