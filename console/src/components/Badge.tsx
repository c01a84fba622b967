const TONES: Record<string, string> = {
  ended: "ok", completed: "ok", active: "ok", running: "live", "in-progress": "live", calling: "live",
  queued: "wait", ringing: "wait", pending: "wait", scheduled: "wait", draft: "wait", paused: "warn",
  failed: "bad", cancelled: "bad", no_answer: "warn", busy: "warn", voicemail: "warn", skipped: "wait",
  inactive: "wait", delivered: "ok",
};

export function Badge({ value }: { value?: string | null }) {
  const v = value ?? "–";
  return <span className={`badge ${TONES[v] ?? "wait"}`}>{v}</span>;
}
