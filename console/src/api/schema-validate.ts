// Validates request bodies in the browser against the API's own OpenAPI document (JSON Schema 2020-12,
// as OpenAPI 3.1 uses), so forms and the API agree on every field. The validators are compiled from the
// document at build time (scripts/compile-validators.mjs, Ajv standalone code): nothing is compiled in
// the page, so its CSP needs no 'unsafe-eval'. The document itself is fetched for the forms' choices.
import type { ErrorObject, ValidateFunction } from "ajv";
import * as validators from "./validators.gen.js";
import { apiBase } from "./client";

type Spec = { components: { schemas: Record<string, JsonSchema> } };
export type JsonSchema = {
  type?: string | string[];
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  $ref?: string;
  description?: string;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  default?: unknown;
};

let loaded: Promise<Spec> | null = null;

function load() {
  loaded ??= fetch(`${apiBase()}/openapi.json`).then((r) => r.json() as Promise<Spec>);
  return loaded;
}

export async function schemaOf(name: string): Promise<JsonSchema> {
  const spec = await load();
  return spec.components.schemas[name];
}

export type BodySchema = keyof typeof validators;

/** Errors of `value` against components.schemas[name], as "field.path: message" lines. */
export function validate(name: BodySchema, value: unknown): string[] {
  const fn: ValidateFunction = validators[name];
  if (fn(value)) return [];
  return summarize(fn.errors ?? []);
}

function summarize(errors: ErrorObject[]): string[] {
  // anyOf/oneOf report every branch; keep the most specific message per field.
  const byPath = new Map<string, string>();
  for (const e of errors) {
    if (e.keyword === "anyOf" || e.keyword === "oneOf") continue;
    const path = e.instancePath.replace(/^\//, "").replace(/\//g, ".") || "(body)";
    const extra = e.keyword === "additionalProperties" ? ` '${(e.params as { additionalProperty: string }).additionalProperty}'` : "";
    if (e.keyword === "type" && byPath.has(path)) continue;
    byPath.set(path, `${e.message}${extra}`);
  }
  return [...byPath].map(([p, m]) => `${p}: ${m}`);
}

/** The enum of a provider-like property (through anyOf [..., null]). */
export function enumOf(schema: JsonSchema | undefined): string[] {
  if (!schema) return [];
  if (schema.enum) return schema.enum.map(String);
  for (const s of schema.anyOf ?? []) if (s.enum) return s.enum.map(String);
  if (schema.items) return enumOf(schema.items);
  return [];
}
