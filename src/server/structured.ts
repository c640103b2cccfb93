/**
 * Structured output (`response_format`): JSON mode and JSON Schema, served with node-llama-cpp's
 * grammars. node-llama-cpp turns a schema it does not understand into a grammar for something else
 * (`{type: "foo"}` becomes `null`, an unknown keyword such as `pattern` is dropped), so every schema is
 * checked here first against the subset its grammar expresses; anything outside it is a 400 naming the
 * keyword and where it is, never a silently looser grammar.
 */
import type { GbnfJsonSchema, LlamaGrammar } from "node-llama-cpp";
import type { LlamaCppModel } from "../backends/llama-cpp.js";
import { ApiError, invalid } from "./errors.js";

export type ResponseFormat =
  | { readonly type: "text" }
  | { readonly type: "json_object" }
  | { readonly type: "json_schema"; readonly name: string; readonly schema: GbnfJsonSchema; readonly strict: boolean };

/** Keywords that only annotate a schema: they do not constrain the JSON, so the grammar may leave them out. */
const ANNOTATIONS = new Set(["description", "title", "$schema", "$id", "$comment", "default", "examples", "deprecated", "readOnly", "writeOnly"]);
const BASIC_TYPES = new Set(["string", "number", "integer", "boolean", "null"]);
const STRING_FORMATS = new Set(["date-time", "time", "date"]);
/** The keywords node-llama-cpp's JSON-schema grammar honours, per kind of schema (annotations aside). */
const KEYWORDS = {
  const: ["const"],
  enum: ["enum"],
  oneOf: ["oneOf", "$defs"],
  anyOf: ["anyOf", "$defs"],
  ref: ["$ref", "$defs"],
  string: ["type", "minLength", "maxLength", "format"],
  basic: ["type"],
  object: ["type", "properties", "required", "additionalProperties", "minProperties", "maxProperties", "$defs"],
  array: ["type", "items", "prefixItems", "minItems", "maxItems", "$defs"],
} as const;

/** `response_format` of a chat or completion request (absent: text). */
export function parseResponseFormat(value: unknown, param = "response_format"): ResponseFormat {
  if (value == null) return { type: "text" };
  if (typeof value !== "object" || Array.isArray(value)) throw invalid(param, "expected an object {type: \"text\" | \"json_object\" | \"json_schema\"}");
  const format = value as Record<string, unknown>;
  switch (format.type) {
    case "text":
      rejectExtra(format, ["type"], param);
      return { type: "text" };
    case "json_object":
      rejectExtra(format, ["type"], param);
      return { type: "json_object" };
    case "json_schema": {
      rejectExtra(format, ["type", "json_schema"], param);
      const spec = format.json_schema;
      if (spec == null || typeof spec !== "object" || Array.isArray(spec))
        throw new ApiError(400, `Missing required parameter: '${param}.json_schema' (an object {name, schema, strict})`, `${param}.json_schema`, "missing_required_parameter");
      return jsonSchemaFormat(spec as Record<string, unknown>, `${param}.json_schema`);
    }
    default:
      throw invalid(`${param}.type`, `expected "text", "json_object" or "json_schema", got ${JSON.stringify(format.type)}`);
  }
}

/** A `{name, schema, strict, description}` object (chat's `json_schema`, or the Responses API's flattened `text.format`). */
export function jsonSchemaFormat(spec: Record<string, unknown>, param: string, allowed: readonly string[] = ["name", "schema", "strict", "description"]): ResponseFormat {
  rejectExtra(spec, allowed, param);
  if (typeof spec.name !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(spec.name))
    throw invalid(`${param}.name`, "expected a name of 1-64 letters, digits, underscores or dashes");
  if (spec.strict != null && typeof spec.strict !== "boolean") throw invalid(`${param}.strict`, "expected a boolean");
  if (spec.description != null && typeof spec.description !== "string") throw invalid(`${param}.description`, "expected a string");
  // OpenAI's default schema (none given) is any JSON object.
  const schema = spec.schema ?? { type: "object", additionalProperties: true };
  checkGrammarSchema(schema, `${param}.schema`);
  return { type: "json_schema", name: spec.name, schema: toGrammarSchema(schema) as GbnfJsonSchema, strict: spec.strict === true };
}

function rejectExtra(record: Record<string, unknown>, allowed: readonly string[], param: string): void {
  for (const key of Object.keys(record))
    if (!allowed.includes(key)) throw new ApiError(400, `Unrecognized request argument supplied: '${param}.${key}' (this server reads ${allowed.map((a) => `'${a}'`).join(", ")} here)`, `${param}.${key}`, "unknown_parameter");
}

/**
 * Throws a 400 naming `param` when `schema` is not a JSON Schema node-llama-cpp's grammar expresses
 * exactly; the message says which keyword, at which path inside the schema, and why.
 */
export function checkGrammarSchema(schema: unknown, param: string): void {
  const fail = (at: string, reason: string): never => {
    throw new ApiError(400, `Invalid '${param}': ${at === "" ? "" : `at ${at}: `}${reason}`, param, "invalid_schema");
  };
  const defsSeen = new Set<string>();
  const collectDefs = (node: Record<string, unknown>, at: string) => {
    if (node.$defs === undefined) return;
    if (typeof node.$defs !== "object" || node.$defs === null || Array.isArray(node.$defs)) fail(`${at}/$defs`, "expected an object of named schemas");
    for (const name of Object.keys(node.$defs as object)) defsSeen.add(name);
  };
  const visit = (node: unknown, at: string): void => {
    if (typeof node !== "object" || node === null || Array.isArray(node)) return fail(at, `a schema must be an object, got ${node === null ? "null" : Array.isArray(node) ? "an array" : typeof node}`);
    const record = node as Record<string, unknown>;
    collectDefs(record, at);
    const kind = kindOf(record, at, fail);
    for (const key of Object.keys(record))
      if (!ANNOTATIONS.has(key) && !(KEYWORDS[kind] as readonly string[]).includes(key))
        fail(`${at}/${key}`, `the keyword '${key}' is not supported here (grammar-constrained output honours ${KEYWORDS[kind].join(", ")} for this kind of schema)`);
    const nonNegative = (key: string) => {
      const value = record[key];
      if (value !== undefined && (typeof value !== "number" || !Number.isInteger(value) || value < 0)) fail(`${at}/${key}`, "expected a non-negative integer");
    };
    switch (kind) {
      case "const":
        if (!isScalar(record.const)) fail(`${at}/const`, "only a string, number, boolean or null constant is supported");
        return;
      case "enum":
        if (!Array.isArray(record.enum) || record.enum.length === 0) return fail(`${at}/enum`, "expected a non-empty array");
        (record.enum as unknown[]).forEach((v, i) => isScalar(v) || fail(`${at}/enum/${i}`, "only string, number, boolean or null values are supported"));
        return;
      case "oneOf":
      case "anyOf": {
        const options = record[kind];
        if (!Array.isArray(options) || options.length === 0) return fail(`${at}/${kind}`, "expected a non-empty array of schemas");
        options.forEach((option, i) => visit(option, `${at}/${kind}/${i}`));
        break;
      }
      case "ref": {
        const ref = record.$ref;
        const match = typeof ref === "string" ? /^#\/\$defs\/(.+)$/.exec(ref) : null;
        if (!match) return fail(`${at}/$ref`, "only references of the form '#/$defs/NAME' are supported");
        if (!defsSeen.has(match[1])) fail(`${at}/$ref`, `'${ref}' names no schema in an enclosing $defs`);
        break;
      }
      case "string":
        nonNegative("minLength");
        nonNegative("maxLength");
        if (record.format !== undefined && !STRING_FORMATS.has(record.format as string))
          fail(`${at}/format`, `only the formats ${[...STRING_FORMATS].join(", ")} are supported, got ${JSON.stringify(record.format)}`);
        return;
      case "basic":
        return;
      case "object": {
        const properties = record.properties ?? {};
        if (typeof properties !== "object" || properties === null || Array.isArray(properties)) return fail(`${at}/properties`, "expected an object of schemas");
        for (const [name, property] of Object.entries(properties)) visit(property, `${at}/properties/${name}`);
        if (record.required !== undefined) {
          if (!Array.isArray(record.required)) return fail(`${at}/required`, "expected an array of property names");
          for (const name of record.required as unknown[])
            if (typeof name !== "string" || !(name in properties)) fail(`${at}/required`, `${JSON.stringify(name)} is not one of the properties`);
        }
        const extra = record.additionalProperties;
        if (extra !== undefined && typeof extra !== "boolean") visit(extra, `${at}/additionalProperties`);
        nonNegative("minProperties");
        nonNegative("maxProperties");
        break;
      }
      case "array":
        if (record.items !== undefined && typeof record.items !== "boolean") visit(record.items, `${at}/items`);
        else if (record.items === true) fail(`${at}/items`, "use a schema (or leave items out) rather than true");
        if (record.prefixItems !== undefined) {
          if (!Array.isArray(record.prefixItems)) return fail(`${at}/prefixItems`, "expected an array of schemas");
          record.prefixItems.forEach((item, i) => visit(item, `${at}/prefixItems/${i}`));
        }
        nonNegative("minItems");
        nonNegative("maxItems");
        break;
    }
    if (record.$defs) for (const [name, def] of Object.entries(record.$defs as object)) visit(def, `${at}/$defs/${name}`);
  };
  visit(schema, "");
}

type Kind = keyof typeof KEYWORDS;

function kindOf(record: Record<string, unknown>, at: string, fail: (at: string, reason: string) => never): Kind {
  if ("const" in record) return "const";
  if ("enum" in record) return "enum";
  if ("oneOf" in record) return "oneOf";
  if ("anyOf" in record) return "anyOf";
  if ("$ref" in record) return "ref";
  for (const keyword of ["allOf", "not", "if", "then", "else", "pattern", "patternProperties", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "uniqueItems", "contains", "dependentRequired", "dependentSchemas", "propertyNames"])
    if (keyword in record) fail(`${at}/${keyword}`, `the keyword '${keyword}' is not supported (grammar-constrained output cannot enforce it)`);
  const type = record.type;
  if (type === undefined) fail(at, "a schema needs a 'type' (or const, enum, oneOf, anyOf, $ref)");
  if (Array.isArray(type)) {
    if (type.length === 0) fail(`${at}/type`, "expected at least one type");
    for (const t of type) if (!BASIC_TYPES.has(t)) fail(`${at}/type`, `a list of types may hold only ${[...BASIC_TYPES].join(", ")}, got ${JSON.stringify(t)}`);
    return "basic";
  }
  if (type === "object") return "object";
  if (type === "array") return "array";
  if (type === "string") return "string";
  if (typeof type === "string" && BASIC_TYPES.has(type)) return "basic";
  return fail(`${at}/type`, `unknown type ${JSON.stringify(type)}: use string, number, integer, boolean, null, object or array`);
}

function isScalar(value: unknown): boolean {
  return value === null || ["string", "number", "boolean"].includes(typeof value);
}

/**
 * The schema as node-llama-cpp's grammar takes it: `anyOf` becomes `oneOf` (its grammar is a union,
 * which is what anyOf means; exclusivity is not enforced by either), annotations stay.
 */
function toGrammarSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toGrammarSchema);
  if (typeof schema !== "object" || schema === null) return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === "const" || key === "enum") out[key] = value;
    else out[key === "anyOf" ? "oneOf" : key] = toGrammarSchema(value);
  }
  return out;
}

/** The grammar a format needs (undefined for text). */
export async function grammarFor(model: LlamaCppModel, format: ResponseFormat): Promise<LlamaGrammar | undefined> {
  switch (format.type) {
    case "text":
      return undefined;
    case "json_object":
      return model.llama.getGrammarFor("json");
    case "json_schema":
      try {
        // The schema was checked against what the grammar expresses (checkGrammarSchema); its static type is too narrow to name here.
        return await model.llama.createGrammarForJsonSchema(format.schema as never);
      } catch (error) {
        throw new ApiError(400, `Invalid 'response_format.json_schema.schema': the grammar could not be built: ${(error as Error).message}`, "response_format.json_schema.schema", "invalid_schema");
      }
  }
}
