// The typed API client: openapi-fetch over the types openapi-typescript generates from
// /api/v1/openapi.json at build time (src/api/schema.d.ts, not committed).
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type Assistant = Schemas["Assistant"];
export type Call = Schemas["Call"];
export type Campaign = Schemas["Campaign"];
export type Lead = Schemas["CampaignLead"];
export type PhoneNumber = Schemas["PhoneNumber"];
export type SipTrunk = Schemas["SipTrunk"];
export type WebhookDelivery = Schemas["WebhookDelivery"];
export type UsageLog = Schemas["UsageLog"];

/** The API root next to the console: "/console" -> "/api/v1" (also under an API Gateway stage prefix). */
export function apiBase(): string {
  const root = window.location.pathname.replace(/\/console(\/.*)?$/, "");
  return `${root}/api/v1`;
}

const KEY_SLOT = "voice-console.api-key";

// The key lives in sessionStorage only: gone when the tab closes, never in a URL.
export const session = {
  get key(): string | null {
    return sessionStorage.getItem(KEY_SLOT);
  },
  signIn(key: string) {
    sessionStorage.setItem(KEY_SLOT, key);
  },
  signOut() {
    sessionStorage.removeItem(KEY_SLOT);
  },
};

const auth: Middleware = {
  onRequest({ request }) {
    const key = session.key;
    if (key) request.headers.set("Authorization", `Bearer ${key}`);
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: apiBase() });
api.use(auth);

/** The contract's flat error body as one readable line. */
export function errorText(error: unknown): string {
  if (!error) return "";
  if (typeof error === "object" && error !== null && "message" in error) {
    const e = error as { message?: string; param?: string | null; details?: string[] | null };
    const extra = e.details?.length ? `: ${e.details.join("; ")}` : e.param ? ` (${e.param})` : "";
    return `${e.message ?? "Request failed"}${extra}`;
  }
  return String(error);
}
