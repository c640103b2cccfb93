/**
 * The baseline a user compares llma with: node-llama-cpp's own generation, no llma code in the loop.
 * - free decoding: `LlamaCompletion.generateCompletion` on the same prompt tokens, temperature 0, no
 *   repeat penalty (its default would change the text), exactly as a user would call it;
 * - forced decoding: LlamaCompletion cannot be forced to a known output, so the target's tokens are
 *   fed to the same iterator it runs on (`LlamaContextSequence.evaluate`, one sampler for the whole
 *   generation, one token per pass) as replacements for what it sampled.
 * Two settings: node-llama-cpp's defaults (its own context: F16 KV cache, flash attention "auto"),
 * or llma's KV settings (flash attention on, the model's KV type) on llma's own sequence, so the
 * prompt's KV entries are shared with the other methods and only the generation loop differs.
 */
import { LlamaCompletion, type LlamaContext, type LlamaContextSequence, type Token } from "node-llama-cpp";
import { llamaCppSequence, type KvCacheType, type LlamaCppModel } from "../backends/llama-cpp.js";
import { reusablePromptPrefix } from "../core/exactness.js";
import type { TokenSequence } from "../core/model.js";

export interface NativeRun {
  readonly tokens: number[];
  /** From the first generated token to the last: the prompt pass excluded, as for the other methods. */
  readonly decodeMs: number;
  /** One-token passes after the prompt, with their durations (for the run's measured cost curve). */
  readonly passMs: number[];
}

export type NativeSettings = "llma" | "default" | { readonly kvCacheType: KvCacheType };


export class NativeRunner {
  private constructor(
    private readonly sequence: LlamaContextSequence,
    private readonly ownContext: LlamaContext | undefined,
    readonly settings: string,
  ) {}

  /**
   * @param shared llma's sequence on this model, used for "llma" settings (its LlamaContextSequence
   *   is driven directly); other settings get a context of their own.
   */
  static async create(model: LlamaCppModel, settings: NativeSettings, shared: TokenSequence): Promise<NativeRunner> {
    if (settings === "llma") {
      return new NativeRunner(llamaCppSequence(shared, "the native baseline with llma's settings").sequence, undefined, `flash attention on, KV ${model.kvCacheType}`);
    }
    const context = await model.model.createContext({
      contextSize: model.contextSize + 1,
      batchSize: model.batchSize,
      sequences: 1,
      threads: model.threads,
      ...(settings === "default"
        ? {}
        : { flashAttention: true, experimentalKvCacheKeyType: settings.kvCacheType, experimentalKvCacheValueType: settings.kvCacheType }),
    });
    const label = settings === "default" ? "node-llama-cpp defaults (KV F16, flash attention auto)" : `flash attention on, KV ${settings.kvCacheType}`;
    return new NativeRunner(context.getSequence(), context, label);
  }

  /** Keeps the KV entries of the prompt prefix this sequence already holds; returns the tokens to evaluate. */
  private async reuse(prompt: readonly number[]): Promise<number[]> {
    // The shared prefix, whatever the model's exactness: node-llama-cpp's own generation does not ask.
    const keep = reusablePromptPrefix(undefined, this.sequence.contextTokens, prompt);
    if (keep === 0) await this.sequence.clearHistory();
    else if (keep < this.sequence.nextTokenIndex) await this.sequence.eraseContextTokenRanges([{ start: keep, end: this.sequence.nextTokenIndex }]);
    return prompt.slice(keep);
  }

  /** Emits `target` through node-llama-cpp's generation iterator (one token per pass). */
  async forced(prompt: readonly number[], target: readonly number[]): Promise<NativeRun> {
    const rest = await this.reuse(prompt);
    const iterator = this.sequence.evaluate(rest as Token[], { temperature: 0, yieldEogToken: true });
    const passMs: number[] = [];
    try {
      await iterator.next(); // the prompt pass: its prediction is replaced by target[0]
      const started = performance.now();
      let last = started;
      // Every target token is evaluated (the last one's pass predicts what follows the target).
      for (const token of target) {
        const result = await iterator.next(token as Token);
        if (result.done) throw new Error("node-llama-cpp's iterator ended early");
        const now = performance.now();
        passMs.push(now - last);
        last = now;
      }
      return { tokens: [...target], decodeMs: last - started, passMs };
    } finally {
      await iterator.return();
    }
  }

  /** The model's own greedy output through LlamaCompletion, as a user would generate it (it reuses the prefix the sequence holds itself). */
  async free(prompt: readonly number[], maxTokens: number): Promise<NativeRun> {
    const completion = new LlamaCompletion({ contextSequence: this.sequence, autoDisposeSequence: false });
    // LlamaCompletion prepends the model's BOS itself: hand it the prompt without ours, or it would
    // see two (and generate something else).
    const bos = this.sequence.model.tokens.bos;
    const input = bos != null && this.sequence.model.tokens.shouldPrependBosToken && prompt[0] === bos ? prompt.slice(1) : prompt;
    const tokens: number[] = [];
    const stamps: number[] = [];
    try {
      await completion.generateCompletion(input as Token[], {
        maxTokens,
        temperature: 0,
        repeatPenalty: false,
        onToken: (chunk) => {
          const now = performance.now();
          for (const token of chunk) {
            tokens.push(token);
            stamps.push(now);
          }
        },
      });
    } finally {
      completion.dispose({ disposeSequence: false });
    }
    const passMs = stamps.slice(1).map((t, i) => t - stamps[i]);
    return { tokens, decodeMs: stamps.length > 1 ? stamps[stamps.length - 1] - stamps[0] : 0, passMs };
  }

  async dispose(): Promise<void> {
    await this.ownContext?.dispose();
  }
}
