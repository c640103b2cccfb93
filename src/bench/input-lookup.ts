/**
 * node-llama-cpp's own InputLookupTokenPredictor (prompt-lookup decoding), the competitor llma is
 * measured against, with its defaults.
 * - free decoding: through node-llama-cpp's normal generation API (LlamaCompletion on a sequence that
 *   has the predictor), exactly as a user would run it;
 * - forced decoding: that API cannot be forced to a known output, so its real predictor object drafts
 *   through llma's verification loop (same forward passes, same acceptance) — its drafting decisions,
 *   our loop.
 */
import { InputLookupTokenPredictor, LlamaCompletion, type Token } from "node-llama-cpp";
import type { LlamaCppModel } from "../backends/llama-cpp.js";
import { acceptedTokens, NO_DRAFT, type Draft, type DraftProposer } from "../core/proposer.js";
import type { Verdict } from "../core/verifier.js";

/** Adapter: a node-llama-cpp TokenPredictor as a DraftProposer. */
export class TokenPredictorProposer implements DraftProposer {
  constructor(private readonly predictor = new InputLookupTokenPredictor()) {}

  append(tokens: readonly number[], kind: "prompt" | "output"): void {
    if (kind === "prompt") {
      // As LlamaCompletion does: the input tokens are the prompt; the state starts as the prompt.
      this.predictor.updateInputTokens(tokens as Token[]);
      this.predictor.reset({ stateTokens: tokens as Token[] });
    } else this.predictor.pushTokens(tokens as Token[]);
  }

  propose(maxTokens: number): Draft {
    const tokens = this.predictor.predictTokens() as Token[];
    if (tokens.length === 0 || maxTokens <= 0) return NO_DRAFT;
    return { tokens: tokens.slice(0, maxTokens) };
  }

  accept(draft: Draft, verdict: Verdict): void {
    this.predictor.pushTokens(acceptedTokens(draft, verdict) as Token[]);
  }
}

export interface FreeRunResult {
  readonly tokens: number[];
  readonly text: string;
  /** From the first generated token to the last (the prompt pass excluded, as for the other methods). */
  readonly decodeMs: number;
  readonly totalMs: number;
}

/**
 * Free greedy generation with node-llama-cpp's LlamaCompletion and an InputLookupTokenPredictor, on a
 * context of its own (the predictor is bound to a sequence when it is created).
 */
export class InputLookupRunner {
  private constructor(
    private readonly completion: LlamaCompletion,
    private readonly dispose_: () => Promise<void>,
  ) {}

  static async create(model: LlamaCppModel): Promise<InputLookupRunner> {
    const context = await model.model.createContext({
      contextSize: model.contextSize,
      batchSize: model.batchSize,
      sequences: 1,
      flashAttention: true,
      threads: model.threads,
    });
    const sequence = context.getSequence({ tokenPredictor: new InputLookupTokenPredictor() });
    const completion = new LlamaCompletion({ contextSequence: sequence });
    return new InputLookupRunner(completion, () => context.dispose());
  }

  async generate(prompt: string, maxTokens: number): Promise<FreeRunResult> {
    const tokens: number[] = [];
    let first = 0;
    const started = performance.now();
    const text = await this.completion.generateCompletion(prompt, {
      maxTokens,
      temperature: 0,
      onToken: (chunk) => {
        if (tokens.length === 0) first = performance.now();
        tokens.push(...chunk);
      },
    });
    const ended = performance.now();
    return { tokens, text, decodeMs: tokens.length > 0 ? ended - first : 0, totalMs: ended - started };
  }

  async dispose(): Promise<void> {
    await this.dispose_();
  }
}
