/**
 * Load test of `llma serve` (a script, not a vitest file): `npm run loadtest -- --clients 16 --seconds 60
 * [--model GGUF] [--parallel 4] [--threads T] [--max-tokens 32] [--out report.json]`.
 *
 * Starts `llma serve` on 127.0.0.1 (a free port) with the tiny test model (or --model), computes every
 * request's sequential twin (the same request alone, before the load, streamed), then runs N concurrent
 * streaming clients (the official `openai` client) for the given time, each request picked at random
 * from the set (greedy or sampled with a seed; with or without a prediction and references), and
 * compares every streamed text with its twin. After the load it replays the twins once more alone.
 * Reports requests, errors, mismatches (both must be 0: exit 1 otherwise), p50/p99 latency and time to
 * first token, the server's RSS at start, peak and end; then stops the server with SIGTERM (exit 0).
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import OpenAI from "openai";
import type { ChatCompletionCreateParamsStreaming } from "openai/resources";
import { ensureModel } from "../../src/backends/model-cache.js";
import { loadDataset } from "../../src/bench/dataset.js";
import { mulberry32 } from "../../src/core/random.js";

interface Args {
  clients: number;
  seconds: number;
  model?: string;
  parallel: number;
  threads: number;
  maxTokens: number;
  out?: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { clients: 16, seconds: 60, parallel: 4, threads: 1, maxTokens: 32 };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    const value = argv[++i];
    if (value === undefined) throw new Error(`${name} needs a value`);
    const int = () => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be an integer >= 1, got ${value}`);
      return n;
    };
    if (name === "--clients") args.clients = int();
    else if (name === "--seconds") args.seconds = int();
    else if (name === "--parallel") args.parallel = int();
    else if (name === "--threads") args.threads = int();
    else if (name === "--max-tokens") args.maxTokens = int();
    else if (name === "--model") args.model = value;
    else if (name === "--out") args.out = value;
    else throw new Error(`unknown option ${name} (use --clients --seconds --model --parallel --threads --max-tokens --out)`);
  }
  return args;
}

function rssMiB(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Math.round(Number(match[1]) / 1024) : -1;
  } catch {
    return -1;
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

type Body = Omit<ChatCompletionCreateParamsStreaming, "model" | "stream"> & { references?: string[] };

async function streamText(client: OpenAI, body: Body): Promise<{ text: string; firstMs: number; ms: number }> {
  const t0 = performance.now();
  let firstMs = -1;
  const stream = await client.chat.completions.create({ model: "llma", ...body, stream: true } as ChatCompletionCreateParamsStreaming);
  let text = "";
  for await (const chunk of stream) {
    const delta = chunk.choices[0]?.delta.content ?? "";
    if (delta.length > 0 && firstMs < 0) firstMs = performance.now() - t0;
    text += delta;
  }
  return { text, firstMs, ms: performance.now() - t0 };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const model = args.model ?? (await ensureModel({ shape: "tiny", quant: "Q8_0" }));
  const child = spawn(
    "node",
    ["bin/llma.js", "serve", "--model", model, "--host", "127.0.0.1", "--port", "0", "--parallel", String(args.parallel), "--queue", String(args.clients * 2), "--threads", String(args.threads)],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`llma serve did not start:\n${stderr}`)), 180_000);
    child.stderr!.on("data", (data: Buffer) => {
      stderr += data.toString();
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    void exited.then((code) => reject(new Error(`llma serve exited with ${code}:\n${stderr}`)));
  });
  const pid = child.pid!;
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused", maxRetries: 0, timeout: 600_000 });
  try {
    // The request set: RAG-like prompts from the bundled data, greedy or sampled (seeded), each plain
    // and with its plain answer as the prediction plus a document as a reference.
    const rag = await loadDataset("bench/data/llma-rag.jsonl");
    const random = mulberry32(7);
    const bodies: Body[] = [];
    for (let i = 0; i < 8; i++) {
      const sample = rag.samples[i % rag.samples.length];
      const doc = sample.docs[0] ?? "";
      const sampled = i % 3 === 2;
      const base: Body = {
        messages: [{ role: "user", content: `docs:\n${doc.slice(0, 600)}\nquery: ${sample.query}\nanswer:` }],
        max_tokens: 8 + Math.floor(random() * args.maxTokens),
        ...(sampled ? { temperature: 0.8, top_p: 0.95, seed: 1000 + i } : {}),
      };
      bodies.push(base);
    }
    const started = performance.now();
    const plainTwins = await Promise.resolve().then(async () => {
      const out: string[] = [];
      for (const body of bodies) out.push((await streamText(client, body)).text);
      return out;
    });
    for (let i = 0; i < plainTwins.length; i++)
      bodies.push({ ...bodies[i], prediction: { type: "content", content: plainTwins[i] }, references: [rag.samples[i % rag.samples.length].docs[1] ?? "none"] });
    const twins = [...plainTwins];
    for (let i = plainTwins.length; i < bodies.length; i++) twins.push((await streamText(client, bodies[i])).text);
    // Lossless: with a prediction and references the text is the plain one.
    let twinMismatches = 0;
    for (let i = plainTwins.length; i < bodies.length; i++) if (twins[i] !== plainTwins[i - plainTwins.length]) twinMismatches++;
    const twinSeconds = (performance.now() - started) / 1000;

    const rssStart = rssMiB(pid);
    let rssPeak = rssStart;
    const rssTimeline: number[] = []; // every 5 s: a leak keeps climbing, a warm-up levels off
    let ticks = 0;
    const watch = setInterval(() => {
      const rss = rssMiB(pid);
      rssPeak = Math.max(rssPeak, rss);
      if (ticks++ % 20 === 0) rssTimeline.push(rss);
    }, 250);
    const latencies: number[] = [];
    const firsts: number[] = [];
    let requests = 0;
    let errors = 0;
    let mismatches = 0;
    const errorSamples: string[] = [];
    const deadline = performance.now() + args.seconds * 1000;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: args.clients }, async (_, c) => {
        const pick = mulberry32(100 + c);
        while (performance.now() < deadline) {
          const i = Math.floor(pick() * bodies.length);
          requests++;
          try {
            const { text, firstMs, ms } = await streamText(client, bodies[i]);
            latencies.push(ms);
            if (firstMs >= 0) firsts.push(firstMs);
            if (text !== twins[i]) {
              mismatches++;
              if (errorSamples.length < 5) errorSamples.push(`mismatch on request ${i}: ${JSON.stringify(text)} vs ${JSON.stringify(twins[i])}`);
            }
          } catch (error) {
            errors++;
            if (errorSamples.length < 5) errorSamples.push(`request ${i}: ${(error as Error).message}`);
          }
        }
      }),
    );
    const loadSeconds = (performance.now() - t0) / 1000;
    clearInterval(watch);
    const rssEnd = rssMiB(pid);
    // The twins once more, alone, after the load.
    let afterMismatches = 0;
    for (let i = 0; i < bodies.length; i++) if ((await streamText(client, bodies[i])).text !== twins[i]) afterMismatches++;

    latencies.sort((a, b) => a - b);
    firsts.sort((a, b) => a - b);
    const report = {
      clients: args.clients,
      seconds: args.seconds,
      parallel: args.parallel,
      threads: args.threads,
      model,
      distinctRequests: bodies.length,
      twinSeconds: Math.round(twinSeconds * 10) / 10,
      requests,
      completed: latencies.length,
      requestsPerSecond: Math.round((latencies.length / loadSeconds) * 100) / 100,
      errors,
      mismatches,
      twinMismatches,
      afterMismatches,
      latencyMs: { p50: Math.round(percentile(latencies, 50)), p99: Math.round(percentile(latencies, 99)), max: Math.round(latencies.at(-1) ?? 0) },
      firstTokenMs: { p50: Math.round(percentile(firsts, 50)), p99: Math.round(percentile(firsts, 99)) },
      rssMiB: { start: rssStart, peak: rssPeak, end: rssEnd, every5s: rssTimeline },
      problems: errorSamples,
    };
    child.kill("SIGTERM");
    const code = await exited;
    const output = { ...report, serverExit: code };
    process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
    if (args.out) await writeFile(args.out, `${JSON.stringify(output, null, 2)}\n`);
    return errors + mismatches + twinMismatches + afterMismatches === 0 && code === 0 ? 0 : 1;
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}

main().then(
  (code) => (process.exitCode = code),
  (error: Error) => {
    process.stderr.write(`loadtest: ${error.message}\n`);
    process.exitCode = 1;
  },
);
