// Validates request bodies in the browser against the API's own OpenAPI document (JSON Schema 2020-12,
// as OpenAPI 3.1 uses), fetched from /api/v1/openapi.json, so forms and the API agree on every field.
import Ajv2020, { type ErrorObject, type ValidateFunction } from "ajv/dist/2020";
import addFormats from "ajv-formats";
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

let loaded: Promise<{ spec: Spec; ajv: Ajv2020 }> | null = null;

function load() {
  loaded ??= fetch(`${apiBase()}/openapi.json`)
    .then((r) => r.json() as Promise<Spec>)
    .then((spec) => {
      const ajv = new Ajv2020({ strict: false, allErrors: true });
      addFormats(ajv);
      ajv.addSchema({ $id: "openapi", components: spec.components });
      return { spec, ajv };
    });
  return loaded;
}

export async function schemaOf(name: string): Promise<JsonSchema> {
  const { spec } = await load();
  return spec.components.schemas[name];
}

const compiled = new Map<string, ValidateFunction>();

/** Errors of `value` against components.schemas[name], as "field.path: message" lines. */
export async function validate(name: string, value: unknown): Promise<string[]> {
  const { ajv } = await load();
  let fn = compiled.get(name);
  if (!fn) {
    fn = ajv.compile({ $ref: `openapi#/components/schemas/${name}` });
    compiled.set(name, fn);
  }
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
