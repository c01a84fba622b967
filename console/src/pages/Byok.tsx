import { useState } from "react";
import { api, errorText } from "../api/client";
import { useLoad } from "../hooks";
import { Badge } from "../components/Badge";

const PROVIDERS = ["deepgram", "openai", "elevenlabs", "xai", "gladia", "mistral", "resend"] as const;

/** Bring-your-own provider keys: set or remove; the API never returns a key, only whether one is set. */
export function ByokPage() {
  const keys = useLoad(async () => {
    const { data, error } = await api.GET("/byok", {});
    if (error) throw new Error(errorText(error));
    return data as unknown as Record<string, unknown>;
  });
  const [drafts, setDrafts] = useState<Record<string, string>>({});
  const [msg, setMsg] = useState<{ text: string; ok: boolean } | null>(null);
  const isSet = (p: string) => {
    const d = keys.data ?? {};
    const inner = (d.byok_keys ?? {}) as Record<string, unknown>;
    return !!inner[`${p}_secret_id`];
  };
  async function save(p: string) {
    const { error } = await api.POST("/byok", { body: { provider: p, api_key: drafts[p] } as never });
    setMsg({ text: error ? errorText(error) : `${p} key saved.`, ok: !error });
    setDrafts({ ...drafts, [p]: "" });
    void keys.reload();
  }
  async function unset(p: string) {
    const { error } = await api.DELETE("/byok", { body: { provider: p } as never });
    setMsg({ text: error ? errorText(error) : `${p} key removed.`, ok: !error });
    void keys.reload();
  }
  return (
    <>
      <div className="page-head"><h1>Provider keys</h1></div>
      <p className="muted">Your own keys for the speech and language providers. Calls use them instead of the platform's keys. Keys are encrypted at rest and never shown again.</p>
      {msg && <div className={`notice ${msg.ok ? "ok" : "bad"}`}>{msg.text}</div>}
      <div className="table-wrap">
        <table>
          <thead><tr><th>Provider</th><th>Status</th><th>New key</th><th></th></tr></thead>
          <tbody>
            {PROVIDERS.map((p) => (
              <tr key={p}>
                <td><strong>{p}</strong></td>
                <td><Badge value={isSet(p) ? "active" : "inactive"} /> <span className="small muted">{isSet(p) ? "key set" : "platform key"}</span></td>
                <td><input type="password" autoComplete="off" aria-label={`${p} API key`} placeholder="paste a key" value={drafts[p] ?? ""} onChange={(e) => setDrafts({ ...drafts, [p]: e.target.value })} style={{ margin: 0 }} /></td>
                <td style={{ whiteSpace: "nowrap" }}>
                  <button className="small" disabled={!drafts[p]} onClick={() => void save(p)}>Save</button>{" "}
                  {isSet(p) && <button className="secondary outline small" onClick={() => void unset(p)}>Remove</button>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
