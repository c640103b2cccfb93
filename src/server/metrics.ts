/**
 * Prometheus metrics (prom-client), one Registry per server: two servers in a process (tests, a
 * library user running several models) never share or overwrite each other's series.
 * Tokens per forward pass = llma_generated_tokens_total / llma_forward_passes_total (per mode).
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

export const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300] as const;

export type GenerationMode = "accelerated" | "sampled";
const GENERATION_MODES: readonly GenerationMode[] = ["accelerated", "sampled"];

export interface GenerationRecord {
  readonly mode: GenerationMode;
  readonly promptTokens: number;
  readonly cachedPromptTokens: number;
  readonly generatedTokens: number;
  readonly forwardPasses: number;
  readonly draftedTokens: number;
  readonly acceptedTokens: number;
  /** "stop", "length" or "abort". */
  readonly finishReason: string;
}

export interface Gauges {
  readonly queueLength: number;
  readonly activeRequests: number;
  readonly slots: number;
  readonly queueLimit: number;
}

type ModeCounter = Counter<"mode">;

export class Metrics {
  readonly registry = new Registry();
  private readonly requests: Counter<"endpoint" | "status">;
  private readonly latency: Histogram<"endpoint">;
  private readonly generations: Counter<"mode" | "finish_reason">;
  private readonly aborted: Counter;
  private readonly perMode: { readonly pick: (record: GenerationRecord) => number; readonly counter: ModeCounter }[];
  private recentLatency = 0;

  constructor(gauges: () => Gauges) {
    const registers = [this.registry];
    this.requests = new Counter({ name: "llma_requests_total", help: "HTTP requests by endpoint and status code.", labelNames: ["endpoint", "status"], registers });
    this.latency = new Histogram({
      name: "llma_request_duration_seconds",
      help: "HTTP request latency (for streams: until the last byte).",
      labelNames: ["endpoint"],
      buckets: [...LATENCY_BUCKETS],
      registers,
    });
    this.generations = new Counter({
      name: "llma_generations_total",
      help: "Generations by mode (accelerated: lossless LLMA, greedy or sampled; sampled: node-llama-cpp's sampler, for penalties and logit_bias) and finish reason.",
      labelNames: ["mode", "finish_reason"],
      registers,
    });
    this.aborted = new Counter({ name: "llma_generations_aborted_total", help: "Generations stopped because the client went away.", registers });
    const modeCounter = (name: string, help: string): ModeCounter => {
      const counter = new Counter({ name, help, labelNames: ["mode"], registers });
      // Both modes from the start: a rate over a series that appears later misses its first increments.
      for (const mode of GENERATION_MODES) counter.inc({ mode }, 0);
      return counter;
    };
    this.perMode = [
      { counter: modeCounter("llma_prompt_tokens_total", "Prompt tokens."), pick: (r) => r.promptTokens },
      { counter: modeCounter("llma_prompt_tokens_cached_total", "Prompt tokens whose KV cache was reused from the slot's previous request."), pick: (r) => r.cachedPromptTokens },
      { counter: modeCounter("llma_generated_tokens_total", "Generated (completion) tokens."), pick: (r) => r.generatedTokens },
      { counter: modeCounter("llma_forward_passes_total", "Model forward passes (the prompt's included); tokens per pass = generated / passes."), pick: (r) => r.forwardPasses },
      {
        counter: modeCounter("llma_draft_tokens_accepted_total", "Drafted (copied) tokens the model's own choice (greedy or seeded sample) confirmed."),
        pick: (r) => r.acceptedTokens,
      },
      { counter: modeCounter("llma_draft_tokens_rejected_total", "Drafted (copied) tokens verification threw away."), pick: (r) => r.draftedTokens - r.acceptedTokens },
    ];
    // Gauges read the scheduler when scraped, so they are never stale.
    const gauge = (name: string, help: string, read: (g: Gauges) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read(gauges()));
        },
      });
    gauge("llma_queue_length", "Requests waiting for a slot.", (g) => g.queueLength);
    gauge("llma_queue_limit", "Most requests that may wait; more are refused with 429.", (g) => g.queueLimit);
    gauge("llma_active_requests", "Requests generating now (each holds one slot).", (g) => g.activeRequests);
    gauge("llma_slots", "Parallel sequences (slots).", (g) => g.slots);
  }

  /** One finished HTTP request (any route). */
  recordRequest(endpoint: string, status: number, seconds: number): void {
    this.requests.inc({ endpoint, status: String(status) });
    this.latency.observe({ endpoint }, seconds);
  }

  /** One generation (a completions or chat request that ran on a slot). */
  recordGeneration(record: GenerationRecord, seconds: number): void {
    this.generations.inc({ mode: record.mode, finish_reason: record.finishReason });
    if (record.finishReason === "abort") this.aborted.inc();
    for (const { counter, pick } of this.perMode) counter.inc({ mode: record.mode }, pick(record));
    // A slowly moving mean of generation time, for Retry-After.
    this.recentLatency = this.recentLatency === 0 ? seconds : 0.8 * this.recentLatency + 0.2 * seconds;
  }

  /** Seconds a refused client should wait before retrying (at least 1). */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.recentLatency));
  }

  /** The Content-Type of {@link render}'s text (Prometheus text format 0.0.4). */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}
