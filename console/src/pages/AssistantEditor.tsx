import { useEffect, useState } from "react";
import { api, errorText, type Assistant } from "../api/client";
import { enumOf, schemaOf, validate, type JsonSchema } from "../api/schema-validate";
import { go } from "../router";
import { TalkPanel } from "../talk/TalkPanel";

type Body = Record<string, unknown>;
type Form = {
  name: string;
  business_name: string;
  first_message: string;
  system_prompt: string;
  stt_provider: string;
  stt_model: string;
  stt_language: string;
  llm_provider: string;
  llm_model: string;
  llm_temperature: string;
  tts_provider: string;
  tts_voice_id: string;
  tts_model: string;
  max_duration_seconds: string;
  silence_timeout_seconds: string;
  recording_enabled: boolean;
  voicemail_detection: boolean;
  gdpr_mode: boolean;
  is_active: boolean;
  webhook_url: string;
  webhook_secret: string;
  webhook_events: string[];
  notification_email: string;
  tools: string;
  analysis_plan: string;
  metadata: string;
};

const EMPTY: Form = {
  name: "", business_name: "", first_message: "Hi! How can I help you today?",
  system_prompt: "You are a friendly, concise voice assistant.",
  stt_provider: "deepgram", stt_model: "nova-3-general", stt_language: "en",
  llm_provider: "openai", llm_model: "gpt-4o-mini", llm_temperature: "",
  tts_provider: "elevenlabs", tts_voice_id: "21m00Tcm4TlvDq8ikWAM", tts_model: "",
  max_duration_seconds: "", silence_timeout_seconds: "", recording_enabled: true, voicemail_detection: false,
  gdpr_mode: false, is_active: true, webhook_url: "", webhook_secret: "", webhook_events: [],
  notification_email: "", tools: "[]", analysis_plan: "", metadata: "",
};

const str = (v: unknown) => (v == null ? "" : String(v));
const json = (v: unknown) => (v == null ? "" : JSON.stringify(v, null, 2));

function fromAssistant(a: Assistant): Form {
  const llm = (a.llm_config ?? {}) as Body;
  const messages = (llm.messages as { role: string; content: string }[] | null) ?? [];
  const stt = (a.stt_config ?? {}) as Body;
  const tts = (a.tts_config ?? {}) as Body;
  return {
    name: a.name, business_name: str(a.business_name), first_message: str(a.first_message),
    system_prompt: messages.find((m) => m.role === "system")?.content ?? "",
    stt_provider: str(stt.provider || "deepgram"), stt_model: str(stt.model), stt_language: str(stt.language),
    llm_provider: str(llm.provider || "openai"), llm_model: str(llm.model), llm_temperature: str(llm.temperature),
    tts_provider: str(tts.provider || "elevenlabs"), tts_voice_id: str(tts.voice_id), tts_model: str(tts.model),
    max_duration_seconds: str(a.max_duration_seconds), silence_timeout_seconds: str(a.silence_timeout_seconds),
    recording_enabled: a.recording_enabled !== false, voicemail_detection: !!a.voicemail_detection,
    gdpr_mode: !!a.gdpr_mode, is_active: a.is_active !== false, webhook_url: str(a.webhook_url), webhook_secret: "",
    webhook_events: (a.webhook_events as string[] | null) ?? [], notification_email: str(a.notification_email),
    tools: json(llm.tools ?? []), analysis_plan: json(a.analysis_plan), metadata: json(a.metadata),
  };
}

function parseJson(label: string, text: string, errors: string[]): unknown {
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    errors.push(`${label}: not valid JSON (${(e as Error).message})`);
    return undefined;
  }
}

/** The request body the form describes (fields left empty are omitted: the API's defaults apply). */
function toBody(f: Form, errors: string[]): Body {
  const num = (v: string) => (v.trim() === "" ? undefined : Number(v));
  const body: Body = {
    name: f.name,
    business_name: f.business_name || undefined,
    first_message: f.first_message || undefined,
    is_active: f.is_active,
    recording_enabled: f.recording_enabled,
    voicemail_detection: f.voicemail_detection,
    gdpr_mode: f.gdpr_mode,
    max_duration_seconds: num(f.max_duration_seconds),
    silence_timeout_seconds: num(f.silence_timeout_seconds),
    notification_email: f.notification_email || undefined,
    webhook_url: f.webhook_url || undefined,
    webhook_secret: f.webhook_secret || undefined,
    webhook_events: f.webhook_events.length ? f.webhook_events : undefined,
    stt_config: { provider: f.stt_provider, model: f.stt_model || undefined, language: f.stt_language || undefined },
    llm_config: {
      provider: f.llm_provider,
      model: f.llm_model || undefined,
      temperature: num(f.llm_temperature),
      messages: f.system_prompt ? [{ role: "system", content: f.system_prompt }] : undefined,
      tools: parseJson("Tools", f.tools, errors),
    },
    tts_config: f.tts_voice_id
      ? { provider: f.tts_provider, voice_id: f.tts_voice_id, model: f.tts_model || undefined }
      : undefined,
    analysis_plan: parseJson("Analysis plan", f.analysis_plan, errors),
    metadata: parseJson("Metadata", f.metadata, errors),
  };
  return JSON.parse(JSON.stringify(body)) as Body; // drops the undefined fields
}

export function AssistantEditor({ sourceId, duplicate = false, talk = false }: { sourceId?: string; duplicate?: boolean; talk?: boolean }) {
  const [form, setForm] = useState<Form | null>(sourceId ? null : EMPTY);
  const [source, setSource] = useState<Assistant | null>(null);
  const [schema, setSchema] = useState<JsonSchema | null>(null);
  const [errors, setErrors] = useState<string[]>([]);
  const [saved, setSaved] = useState("");
  const [busy, setBusy] = useState(false);
  const [voices, setVoices] = useState<{ id: string; name: string; provider: string }[]>([]);
  const editing = !!sourceId && !duplicate;

  useEffect(() => {
    void schemaOf("AssistantCreate").then(setSchema);
    void api.GET("/voices", {}).then(({ data }) => setVoices((data?.voices ?? []) as typeof voices));
    if (!sourceId) return;
    void api.GET("/assistants/{assistant_id}", { params: { path: { assistant_id: sourceId } } }).then(({ data, error }) => {
      if (error || !data) return setErrors([errorText(error)]);
      const a = data.assistant as Assistant;
      setSource(a);
      const f = fromAssistant(a);
      setForm(duplicate ? { ...f, name: `${f.name} (copy)` } : f);
    });
  }, [sourceId, duplicate]);

  const props = schema?.properties ?? {};
  const sub = (n: string) => (props[n]?.anyOf ?? []).find((s) => s.$ref)?.$ref?.split("/").pop() ?? "";
  const sttSchema = useSub(sub("stt_config"));
  const llmSchema = useSub(sub("llm_config"));
  const ttsSchema = useSub(sub("tts_config"));
  if (!form) return <p aria-busy="true">Loading…</p>;
  const set = <K extends keyof Form>(k: K, v: Form[K]) => setForm({ ...form, [k]: v });

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setSaved("");
    const problems: string[] = [];
    const body = toBody(form!, problems);
    problems.push(...validate(editing ? "AssistantUpdate" : "AssistantCreate", body));
    setErrors(problems);
    if (problems.length) return;
    setBusy(true);
    const res = editing
      ? await api.PATCH("/assistants/{assistant_id}", { params: { path: { assistant_id: sourceId! } }, body: body as never })
      : await api.POST("/assistants", { body: body as never });
    setBusy(false);
    if (res.error) return setErrors([errorText(res.error)]);
    const saved = (res.data as { assistant: Assistant }).assistant;
    if (editing) {
      setSource(saved);
      setSaved("Saved.");
    } else {
      go(`assistants/${saved.id}`);
    }
  }

  const title = editing ? source?.name ?? "Assistant" : duplicate ? "Duplicate assistant" : "New assistant";
  return (
    <>
      <div className="crumb">
        <a href="#/assistants">Assistants</a>
      </div>
      <div className="page-head">
        <h1>{title}</h1>
        {editing && (
          <div className="actions">
            <a role="button" className="secondary outline" href={`#/assistants/${sourceId}/duplicate`}>
              Duplicate
            </a>
            <a role="button" className="secondary outline" href={`#/calls?assistant_id=${sourceId}`}>
              Calls
            </a>
          </div>
        )}
      </div>
      {editing && sourceId && <TalkPanel assistantId={sourceId} autoStart={talk} />}
      <form onSubmit={submit} noValidate aria-label="Assistant">
        {errors.length > 0 && (
          <div className="notice bad" role="alert">
            <strong>Please fix:</strong>
            <ul>
              {errors.map((x) => (
                <li key={x}>{x}</li>
              ))}
            </ul>
          </div>
        )}
        {saved && <div className="notice ok">{saved}</div>}
        <div className="grid2">
          <fieldset className="group">
            <legend>Basics</legend>
            <label>
              Name
              <input name="name" required maxLength={props.name?.maxLength} value={form.name} onChange={(e) => set("name", e.target.value)} />
            </label>
            <label>
              Business name
              <input name="business_name" value={form.business_name} onChange={(e) => set("business_name", e.target.value)} />
            </label>
            <label>
              First message
              <input name="first_message" value={form.first_message} onChange={(e) => set("first_message", e.target.value)} />
            </label>
            <label>
              System prompt
              <textarea name="system_prompt" rows={5} value={form.system_prompt} onChange={(e) => set("system_prompt", e.target.value)} />
            </label>
          </fieldset>
          <fieldset className="group">
            <legend>Voice pipeline</legend>
            <div className="grid3">
              <label>
                Speech-to-text
                <select name="stt_provider" value={form.stt_provider} onChange={(e) => set("stt_provider", e.target.value)}>
                  {enumOf(sttSchema?.properties?.provider).map((p) => <option key={p}>{p}</option>)}
                </select>
              </label>
              <label>
                STT model
                <input name="stt_model" value={form.stt_model} onChange={(e) => set("stt_model", e.target.value)} />
              </label>
              <label>
                Language
                <input name="stt_language" value={form.stt_language} onChange={(e) => set("stt_language", e.target.value)} />
              </label>
              <label>
                LLM
                <select name="llm_provider" value={form.llm_provider} onChange={(e) => set("llm_provider", e.target.value)}>
                  {enumOf(llmSchema?.properties?.provider).map((p) => <option key={p}>{p}</option>)}
                </select>
              </label>
              <label>
                LLM model
                <input name="llm_model" value={form.llm_model} onChange={(e) => set("llm_model", e.target.value)} />
              </label>
              <label>
                Temperature
                <input name="llm_temperature" inputMode="decimal" value={form.llm_temperature} onChange={(e) => set("llm_temperature", e.target.value)} />
              </label>
              <label>
                Text-to-speech
                <select name="tts_provider" value={form.tts_provider} onChange={(e) => set("tts_provider", e.target.value)}>
                  {enumOf(ttsSchema?.properties?.provider).map((p) => <option key={p}>{p}</option>)}
                </select>
              </label>
              <label>
                Voice
                <input name="tts_voice_id" list="voices" value={form.tts_voice_id} onChange={(e) => set("tts_voice_id", e.target.value)} />
                <datalist id="voices">
                  {voices.map((v) => <option key={`${v.provider}-${v.id}`} value={v.id}>{`${v.name} (${v.provider})`}</option>)}
                </datalist>
              </label>
              <label>
                TTS model
                <input name="tts_model" value={form.tts_model} onChange={(e) => set("tts_model", e.target.value)} />
              </label>
            </div>
          </fieldset>
          <fieldset className="group">
            <legend>Call behaviour</legend>
            <div className="grid2">
              <label>
                Max duration (s)
                <input name="max_duration_seconds" inputMode="numeric" value={form.max_duration_seconds} onChange={(e) => set("max_duration_seconds", e.target.value)} placeholder="default" />
              </label>
              <label>
                Silence timeout (s)
                <input name="silence_timeout_seconds" inputMode="numeric" value={form.silence_timeout_seconds} onChange={(e) => set("silence_timeout_seconds", e.target.value)} placeholder="default" />
              </label>
            </div>
            {(["recording_enabled", "voicemail_detection", "gdpr_mode", "is_active"] as const).map((k) => (
              <label key={k}>
                <input type="checkbox" role="switch" name={k} checked={form[k]} onChange={(e) => set(k, e.target.checked)} />
                {{ recording_enabled: "Record calls", voicemail_detection: "Detect voicemail", gdpr_mode: "GDPR mode (no recording, transcript removed after the report)", is_active: "Active" }[k]}
              </label>
            ))}
            <label>
              Notification email
              <input name="notification_email" type="email" value={form.notification_email} onChange={(e) => set("notification_email", e.target.value)} />
            </label>
          </fieldset>
          <fieldset className="group">
            <legend>Webhooks</legend>
            <label>
              Webhook URL
              <input name="webhook_url" type="url" placeholder="https://example.com/voice-webhook" value={form.webhook_url} onChange={(e) => set("webhook_url", e.target.value)} />
            </label>
            <label>
              Webhook secret
              <input name="webhook_secret" type="password" autoComplete="new-password" value={form.webhook_secret}
                placeholder={source?.webhook_secret_set ? "set (leave empty to keep)" : "not set"} onChange={(e) => set("webhook_secret", e.target.value)} />
            </label>
            <div className="small muted">Events</div>
            {enumOf(props.webhook_events).map((ev) => (
              <label key={ev}>
                <input type="checkbox" checked={form.webhook_events.includes(ev)}
                  onChange={(e) => set("webhook_events", e.target.checked ? [...form.webhook_events, ev] : form.webhook_events.filter((x) => x !== ev))} />
                {ev}
              </label>
            ))}
          </fieldset>
        </div>
        <fieldset className="group" style={{ marginTop: "1.25rem" }}>
          <legend>Tools, analysis plan and metadata (JSON, checked against the API schema)</legend>
          <div className="grid3">
            <label>
              Tools
              <textarea className="code" name="tools" rows={8} value={form.tools} onChange={(e) => set("tools", e.target.value)} />
            </label>
            <label>
              Analysis plan
              <textarea className="code" name="analysis_plan" rows={8} placeholder='{"summary_prompt": "..."}' value={form.analysis_plan} onChange={(e) => set("analysis_plan", e.target.value)} />
            </label>
            <label>
              Metadata
              <textarea className="code" name="metadata" rows={8} placeholder="{}" value={form.metadata} onChange={(e) => set("metadata", e.target.value)} />
            </label>
          </div>
        </fieldset>
        <div className="form-actions" style={{ marginTop: "1rem" }}>
          <a role="button" className="secondary outline" href="#/assistants">
            Cancel
          </a>
          <button type="submit" aria-busy={busy} disabled={busy}>
            {editing ? "Save changes" : "Create assistant"}
          </button>
        </div>
      </form>
    </>
  );
}

function useSub(name: string): JsonSchema | null {
  const [s, setS] = useState<JsonSchema | null>(null);
  useEffect(() => {
    if (name) void schemaOf(name).then(setS);
  }, [name]);
  return s;
}

