/**
 * Prometheus metrics in the text exposition format (version 0.0.4), written by hand.
 * Tokens per forward pass = llma_generated_tokens_total / llma_forward_passes_total (per mode).
 */

export const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300] as const;

export type GenerationMode = "accelerated" | "sampled";

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

class Histogram {
  readonly counts: number[] = LATENCY_BUCKETS.map(() => 0);
  count = 0;
  sum = 0;
  observe(value: number): void {
    this.count++;
    this.sum += value;
    LATENCY_BUCKETS.forEach((bound, i) => {
      if (value <= bound) this.counts[i]++;
    });
  }
}

export interface Gauges {
  readonly queueLength: number;
  readonly activeRequests: number;
  readonly slots: number;
  readonly queueLimit: number;
}

export class Metrics {
  private readonly requests = new Map<string, number>();
  private readonly latency = new Map<string, Histogram>();
  private readonly generations = new Map<string, number>();
  private readonly byMode = new Map<GenerationMode, { prompt: number; cached: number; generated: number; passes: number; drafted: number; accepted: number }>();
  private aborted = 0;
  private recentLatency = 0;

  constructor(private readonly gauges: () => Gauges) {}

  /** One finished HTTP request (any route). */
  recordRequest(endpoint: string, status: number, seconds: number): void {
    const key = labels({ endpoint, status: String(status) });
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    let histogram = this.latency.get(endpoint);
    if (!histogram) this.latency.set(endpoint, (histogram = new Histogram()));
    histogram.observe(seconds);
  }

  /** One generation (a completions or chat request that ran on a slot). */
  recordGeneration(record: GenerationRecord, seconds: number): void {
    const key = labels({ mode: record.mode, finish_reason: record.finishReason });
    this.generations.set(key, (this.generations.get(key) ?? 0) + 1);
    if (record.finishReason === "abort") this.aborted++;
    let totals = this.byMode.get(record.mode);
    if (!totals) this.byMode.set(record.mode, (totals = { prompt: 0, cached: 0, generated: 0, passes: 0, drafted: 0, accepted: 0 }));
    totals.prompt += record.promptTokens;
    totals.cached += record.cachedPromptTokens;
    totals.generated += record.generatedTokens;
    totals.passes += record.forwardPasses;
    totals.drafted += record.draftedTokens;
    totals.accepted += record.acceptedTokens;
    // A slowly moving mean of generation time, for Retry-After.
    this.recentLatency = this.recentLatency === 0 ? seconds : 0.8 * this.recentLatency + 0.2 * seconds;
  }

  /** Seconds a refused client should wait before retrying (at least 1). */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.recentLatency));
  }

  render(): string {
    const out: string[] = [];
    const family = (name: string, type: "counter" | "gauge" | "histogram", help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

    family("llma_requests_total", "counter", "HTTP requests by endpoint and status code.");
    for (const [key, value] of this.requests) out.push(`llma_requests_total${key} ${value}`);

    family("llma_request_duration_seconds", "histogram", "HTTP request latency (for streams: until the last byte).");
    for (const [endpoint, histogram] of this.latency) {
      LATENCY_BUCKETS.forEach((bound, i) => out.push(`llma_request_duration_seconds_bucket${labels({ endpoint, le: String(bound) })} ${histogram.counts[i]}`));
      out.push(`llma_request_duration_seconds_bucket${labels({ endpoint, le: "+Inf" })} ${histogram.count}`);
      out.push(`llma_request_duration_seconds_sum${labels({ endpoint })} ${histogram.sum}`);
      out.push(`llma_request_duration_seconds_count${labels({ endpoint })} ${histogram.count}`);
    }

    family("llma_generations_total", "counter", "Generations by mode (accelerated: lossless LLMA, greedy or sampled; sampled: node-llama-cpp's sampler, for penalties and logit_bias) and finish reason.");
    for (const [key, value] of this.generations) out.push(`llma_generations_total${key} ${value}`);
    family("llma_generations_aborted_total", "counter", "Generations stopped because the client went away.");
    out.push(`llma_generations_aborted_total ${this.aborted}`);

    const perMode = (name: string, help: string, pick: (t: { prompt: number; cached: number; generated: number; passes: number; drafted: number; accepted: number }) => number) => {
      family(name, "counter", help);
      for (const mode of ["accelerated", "sampled"] as const) out.push(`${name}${labels({ mode })} ${pick(this.byMode.get(mode) ?? { prompt: 0, cached: 0, generated: 0, passes: 0, drafted: 0, accepted: 0 })}`);
    };
    perMode("llma_prompt_tokens_total", "Prompt tokens.", (t) => t.prompt);
    perMode("llma_prompt_tokens_cached_total", "Prompt tokens whose KV cache was reused from the slot's previous request.", (t) => t.cached);
    perMode("llma_generated_tokens_total", "Generated (completion) tokens.", (t) => t.generated);
    perMode("llma_forward_passes_total", "Model forward passes (the prompt's included); tokens per pass = generated / passes.", (t) => t.passes);
    perMode("llma_draft_tokens_accepted_total", "Drafted (copied) tokens the model's own choice (greedy or seeded sample) confirmed.", (t) => t.accepted);
    perMode("llma_draft_tokens_rejected_total", "Drafted (copied) tokens verification threw away.", (t) => t.drafted - t.accepted);

    const gauges = this.gauges();
    family("llma_queue_length", "gauge", "Requests waiting for a slot.");
    out.push(`llma_queue_length ${gauges.queueLength}`);
    family("llma_queue_limit", "gauge", "Most requests that may wait; more are refused with 429.");
    out.push(`llma_queue_limit ${gauges.queueLimit}`);
    family("llma_active_requests", "gauge", "Requests generating now (each holds one slot).");
    out.push(`llma_active_requests ${gauges.activeRequests}`);
    family("llma_slots", "gauge", "Parallel sequences (slots).");
    out.push(`llma_slots ${gauges.slots}`);
    return `${out.join("\n")}\n`;
  }
}

function labels(values: Record<string, string>): string {
  const parts = Object.entries(values).map(([key, value]) => `${key}="${value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')}"`);
  return `{${parts.join(",")}}`;
}
