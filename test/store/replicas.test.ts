/**
 * Two `llma serve` processes on one PostgreSQL database (`--store postgres://...`): what one replica
 * answers is a reference for the next request on the other; tenants stay apart across replicas; a
 * bounded load of 2 replicas x 8 streaming clients has no errors and every answer equals its
 * sequential twin (plain decoding), with cache hits on both; PostgreSQL stopped and restarted during
 * that load fails no request, changes no answer, and the cache is used again once it is back.
 *
 * LLMA_REPLICA_LOAD_SECONDS sets the load's length (default 20; the closing run used 60).
 */
import OpenAI from "openai";
import type { Completion, CompletionCreateParamsStreaming } from "openai/resources";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ensureModel } from "../../src/backends/model-cache.js";
import { ensureBuilt } from "../helpers/cli.js";
import { freshDatabase, startPostgres, stopPostgres } from "../helpers/postgres.js";
import { killServers, ServeExitError, startServe } from "../helpers/serve.js";

const LOAD_SECONDS = Number(process.env.LLMA_REPLICA_LOAD_SECONDS ?? 20);
const CLIENTS_PER_REPLICA = 8;
/** A load test's own limit: the load, plus starting two replicas and the sequential twins on a busy machine. */
const LOAD_TEST_TIMEOUT_MS = LOAD_SECONDS * 1000 + 90_000 + 240_000;
const MAX_TOKENS = 24;
const QUERIES = [
  "where does real insulin come from",
  "what is the capital of france",
  "how tall is the eiffel tower",
  "who wrote the origin of species",
  "what causes the northern lights",
  "how do bees make honey",
  "why is the sky blue",
  "when did the berlin wall fall",
];
/** Only the cache may supply drafts: accepted tokens then prove a cache hit. */
const CACHE_ONLY = { conversation_references: false, output_references: false, prediction: false, references: false, cache: true };
/** No references at all: plain decoding, one token per pass. */
const PLAIN = { ...CACHE_ONLY, cache: false };

let model: string;

beforeAll(async () => {
  ensureBuilt();
  model = await ensureModel({ shape: "tiny", quant: "Q8_0" });
});

afterEach(() => killServers("SIGTERM"));


interface Replica {
  readonly url: string;
  readonly client: OpenAI;
  readonly stderr: () => string;
}

/** Starts `llma serve --store URL` on a free port (1 thread, 2 slots) and waits for its "listening on" line. */
async function replica(store: string, ...args: string[]): Promise<Replica> {
  const started = await start(store, ...args);
  if (!started.replica) throw new Error(`llma serve exited with ${started.exit.code}:\n${started.exit.stderr}`);
  return started.replica;
}

/** Runs `llma serve --store URL` until it listens (a replica) or exits (its exit code and stderr). */
async function start(store: string, ...args: string[]): Promise<{ replica: Replica; exit?: undefined } | { replica?: undefined; exit: { code: number | null; stderr: string } }> {
  try {
    const { url, stderr } = await startServe(["serve", "--model", model, "--port", "0", "--threads", "1", "--parallel", "2", "--policy", "paper", "--store", store, ...args]);
    return { replica: { url, client: new OpenAI({ baseURL: `${url}/v1`, apiKey: "x", maxRetries: 0, timeout: 60_000 }), stderr } };
  } catch (error) {
    if (error instanceof ServeExitError) return { exit: { code: error.code, stderr: error.stderr } };
    throw error;
  }
}

interface Answer {
  text: string;
  accepted: number;
  cachedReferences?: number;
}

async function complete(replica: Replica, prompt: string, llma: Record<string, unknown>, user?: string): Promise<Answer> {
  const response = (await replica.client.completions.create({ model: "tiny", prompt, max_tokens: MAX_TOKENS, ...(user ? { user } : {}), llma } as never)) as unknown as Completion & {
    llma: { accepted_tokens: number; cached_references?: number };
  };
  return { text: response.choices[0].text, accepted: response.llma.accepted_tokens, cachedReferences: response.llma.cached_references };
}

async function stream(replica: Replica, prompt: string, user: string): Promise<Answer> {
  const chunks = await replica.client.completions.create({
    model: "tiny",
    prompt,
    max_tokens: MAX_TOKENS,
    user,
    stream: true,
    stream_options: { include_usage: true },
    llma: CACHE_ONLY,
  } as CompletionCreateParamsStreaming);
  let text = "";
  let accepted: number | undefined;
  let finished = false;
  for await (const chunk of chunks) {
    text += chunk.choices[0]?.text ?? "";
    if (chunk.choices[0]?.finish_reason) finished = true;
    if (chunk.usage) accepted = chunk.usage.completion_tokens_details?.accepted_prediction_tokens ?? 0;
  }
  if (!finished || accepted === undefined) throw new Error(`stream for ${JSON.stringify(prompt)} ended without a finish reason and usage`);
  return { text, accepted };
}

/** The counter's value in a replica's /metrics. */
async function metric(replica: Replica, series: string): Promise<number> {
  const text = await (await fetch(`${replica.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  if (!line) throw new Error(`${series} is not in /metrics:\n${text}`);
  return Number(line.slice(series.length + 1));
}

/** Each query's plain-decoding answer, asked one after another on `replica` (no references, no cache). */
async function sequentialTwins(replica: Replica): Promise<Map<string, string>> {
  const twins = new Map<string, string>();
  for (const query of QUERIES) {
    const plain = await complete(replica, query, PLAIN);
    expect(plain.accepted).toBe(0);
    twins.set(query, plain.text);
  }
  return twins;
}

interface LoadReport {
  requests: number;
  errors: string[];
  mismatches: string[];
  /** Per replica: answers whose drafts came from the cache (accepted > 0 with only the cache on). */
  hits: [number, number];
  /** Completion times (ms since the start) of the answers that hit the cache. */
  hitTimes: number[];
}

/** How long past `seconds` the clients go on while `enough` does not hold yet (a slow, loaded machine). */
const OVERTIME_MS = 90_000;

/**
 * CLIENTS_PER_REPLICA streaming clients on each replica for `seconds`, and then on while `enough` says
 * the run has not yet seen what the test checks (cache hits on a loaded machine come late), for at most
 * OVERTIME_MS more; `during` runs alongside (faults).
 */
async function load(
  replicas: [Replica, Replica],
  twins: Map<string, string>,
  seconds: number,
  enough: (report: LoadReport) => boolean,
  during?: (started: number) => Promise<void>,
): Promise<LoadReport> {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const report: LoadReport = { requests: 0, errors: [], mismatches: [], hits: [0, 0], hitTimes: [] };
  const more = () => performance.now() < deadline || (!enough(report) && performance.now() < deadline + OVERTIME_MS);
  const client = async (side: 0 | 1, index: number) => {
    for (let i = 0; more(); i++) {
      const query = QUERIES[(index * 3 + i) % QUERIES.length];
      const tenant = `tenant-${index % 2}`;
      report.requests++;
      try {
        const answer = await stream(replicas[side], query, tenant);
        if (answer.text !== twins.get(query)) report.mismatches.push(`${query}: ${JSON.stringify(answer.text)} != ${JSON.stringify(twins.get(query))}`);
        if (answer.accepted > 0) {
          report.hits[side]++;
          report.hitTimes.push(performance.now() - started);
        }
      } catch (error) {
        report.errors.push(`replica ${side} client ${index}: ${(error as Error).message}`);
      }
    }
  };
  const clients = [0, 1].flatMap((side) => Array.from({ length: CLIENTS_PER_REPLICA }, (_, index) => client(side as 0 | 1, index + side * CLIENTS_PER_REPLICA)));
  await Promise.all([...clients, during?.(started)]);
  return report;
}

describe("llma serve replicas sharing one PostgreSQL store", () => {
  it("an answer written on replica A is a reference on replica B (accepted > 0, same text as plain decoding); tenants stay apart across replicas", async () => {
    const store = await freshDatabase();
    const [a, b] = await Promise.all([replica(store), replica(store)]);
    const query = "where does real insulin come from";
    const plain = await complete(a, query, PLAIN);
    expect(plain.accepted).toBe(0);

    const first = await complete(a, query, CACHE_ONLY, "alice");
    expect(first.cachedReferences).toBe(0);
    expect(first.text).toBe(plain.text);

    // Another tenant on the other replica: alice's answer is not bob's reference.
    const bob = await complete(b, query, CACHE_ONLY, "bob");
    expect(bob.cachedReferences).toBe(0);
    expect(bob.accepted).toBe(0);
    expect(bob.text).toBe(plain.text);

    // alice on replica B: her answer, written by A, is copied from.
    const again = await complete(b, query, CACHE_ONLY, "alice");
    expect(again.cachedReferences).toBeGreaterThanOrEqual(1);
    expect(again.accepted).toBeGreaterThan(0);
    expect(again.text).toBe(plain.text);
    console.log(`replicas: plain ${plain.accepted} accepted; alice on B after A: ${again.accepted} of ${MAX_TOKENS} tokens accepted from the cache; bob on B: ${bob.accepted}`);
    expect(await metric(b, 'llma_cache_lookups_total{result="hit"}')).toBe(1);
    expect(await metric(b, 'llma_cache_lookups_total{result="miss"}')).toBe(1);
  });

  it(`load: 2 replicas x ${CLIENTS_PER_REPLICA} streaming clients for ${LOAD_SECONDS} s: 0 errors, every answer equal to its sequential twin, cache hits on both`, async () => {
    const store = await freshDatabase();
    const replicas = (await Promise.all([replica(store), replica(store)])) as [Replica, Replica];
    const twins = await sequentialTwins(replicas[0]);
    const report = await load(replicas, twins, LOAD_SECONDS, (r) => r.hits[0] > 0 && r.hits[1] > 0);
    const lookups = await Promise.all(replicas.map((r) => metric(r, 'llma_cache_lookups_total{result="hit"}')));
    console.log(
      `load ${LOAD_SECONDS} s: ${report.requests} streamed requests, ${report.errors.length} errors, ${report.mismatches.length} answers differing from their twin; ` +
        `answers drafted from the cache: replica A ${report.hits[0]}, replica B ${report.hits[1]}; cache-hit lookups in /metrics: ${lookups.join(", ")}`,
    );
    expect(report.errors).toEqual([]);
    expect(report.mismatches).toEqual([]);
    expect(report.requests).toBeGreaterThanOrEqual(2 * CLIENTS_PER_REPLICA);
    expect(report.hits[0]).toBeGreaterThan(0);
    expect(report.hits[1]).toBeGreaterThan(0);
    for (const hits of lookups) expect(hits).toBeGreaterThan(0);
    for (const r of replicas) expect(await metric(r, 'llma_store_errors_total{operation="cache_lookup"}')).toBe(0);
  }, LOAD_TEST_TIMEOUT_MS);

  it(`PostgreSQL stopped and restarted during the load: 0 failed requests, answers identical, the cache used again after the restart`, async () => {
    const store = await freshDatabase();
    const replicas = (await Promise.all([replica(store), replica(store)])) as [Replica, Replica];
    const twins = await sequentialTwins(replicas[0]);
    let restartedAt = 0;
    let downMs = 0;
    const hitAfterRestart = (r: LoadReport) => restartedAt > 0 && r.hitTimes.some((t) => t > restartedAt);
    const report = await load(replicas, twins, LOAD_SECONDS, hitAfterRestart, async (started) => {
      await new Promise((resolve) => setTimeout(resolve, (LOAD_SECONDS * 1000) / 4));
      const stopping = performance.now();
      stopPostgres();
      await new Promise((resolve) => setTimeout(resolve, (LOAD_SECONDS * 1000) / 6));
      startPostgres();
      restartedAt = performance.now() - started;
      downMs = performance.now() - stopping;
    });
    const errors = await Promise.all(replicas.map(async (r) => (await metric(r, 'llma_store_errors_total{operation="cache_lookup"}')) + (await metric(r, 'llma_store_errors_total{operation="cache_write"}'))));
    const after = report.hitTimes.filter((t) => t > restartedAt).length;
    console.log(
      `restart under load (${LOAD_SECONDS} s, PostgreSQL down ${(downMs / 1000).toFixed(1)} s, back at ${(restartedAt / 1000).toFixed(1)} s): ${report.requests} requests, ` +
        `${report.errors.length} failed, ${report.mismatches.length} differing; store errors counted: ${errors.join(", ")}; cache hits ${report.hits[0] + report.hits[1]}, ${after} after the restart`,
    );
    expect(report.errors).toEqual([]);
    expect(report.mismatches).toEqual([]);
    expect(errors[0] + errors[1]).toBeGreaterThan(0); // the outage was seen (and counted), not missed
    expect(after).toBeGreaterThan(0);
    expect(replicas[0].stderr() + replicas[1].stderr()).toMatch(/store works again/);
  }, LOAD_TEST_TIMEOUT_MS);

  it("the database down at start: llma serve exits naming the URL without its password; with --store-optional it serves, and uses the store once it is up", async () => {
    const url = new URL(await freshDatabase());
    url.password = "pw-secret"; // the tests' server trusts loopback: the password is only there to be hidden
    const store = url.toString();
    stopPostgres();
    let optional: Replica;
    try {
      const refused = await start(store);
      expect(refused.exit?.code).toBe(1);
      expect(refused.exit?.stderr).toContain(`PostgreSQL store ${store.replace(":pw-secret", "")} is unreachable`);
      expect(refused.exit?.stderr).not.toContain("pw-secret");
      optional = await replica(store, "--store-optional");
      expect(optional.stderr()).toMatch(/unreachable .*starting without it \(--store-optional\), retrying on every request/);
      expect(optional.stderr()).not.toContain("pw-secret");
      const down = await complete(optional, "what is the capital of france", CACHE_ONLY);
      expect(down.cachedReferences).toBeUndefined(); // the lookup failed: no cache this time, the request still answered
    } finally {
      startPostgres();
    }
    const plain = await complete(optional, "what is the capital of france", PLAIN);
    const first = await complete(optional, "what is the capital of france", CACHE_ONLY);
    const again = await complete(optional, "what is the capital of france", CACHE_ONLY);
    expect(first.text).toBe(plain.text);
    expect(again.text).toBe(plain.text);
    expect(again.cachedReferences).toBeGreaterThanOrEqual(1);
    expect(again.accepted).toBeGreaterThan(0);
  });
});
