export function when(iso?: string | null): string {
  if (!iso) return "–";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function duration(seconds?: number | null): string {
  if (seconds == null) return "–";
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  return m ? `${m}m ${String(s).padStart(2, "0")}s` : `${s}s`;
}

export function money(value: unknown, currency = "EUR"): string {
  const n = typeof value === "number" ? value : Number(value ?? 0);
  return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(Number.isFinite(n) ? n : 0);
}

export function short(id?: string | null): string {
  return id ? id.slice(0, 8) : "–";
}
