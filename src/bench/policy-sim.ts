/**
 * Forced decoding on a virtual clock: the real decode loop and proposer, a sequence that does no work,
 * and each forward pass charged at the cost curve's price for its token count. Lets a draft-length
 * policy be measured against greedy and the oracle bound in milliseconds of CPU instead of minutes.
 */
import type { CostCurve, PassCostRecorder } from "../core/cost-model.js";
import { decode } from "../core/decoder.js";
import type { TokenModel, TokenSequence } from "../core/model.js";
import type { DraftPolicy } from "../core/policy.js";
import { ReferenceProposer } from "../core/proposer.js";
import { StepCounter } from "../core/step-counts.js";
import { ForcedSequence } from "../core/target.js";
import { oracleTime } from "./oracle.js";
import { suffixProfile, type TokenizedSample } from "./simulate.js";

const END = 2;

/** A model that only counts: no tokens decode to text, only END ends generation. */
const countingModel: TokenModel = {
  contextSize: 1 << 30,
  batchSize: 1 << 20,
  tokenize: () => [],
  detokenize: () => "",
  isEndOfGeneration: (token) => token === END,
  createSequence: async () => new ChargedSequence(() => 0),
};

/** Keeps tokens (for prefix logic) and charges every pass to a virtual clock. */
class ChargedSequence implements TokenSequence {
  readonly cache: number[] = [];
  elapsed = 0;
  constructor(private readonly price: (tokens: number) => number) {}
  get length() {
    return this.cache.length;
  }
  get tokens() {
    return this.cache;
  }
  async evaluate(tokens: readonly number[], predictFrom = 0): Promise<number[]> {
    this.cache.push(...tokens);
    if (predictFrom > 0 || tokens.length === 0) return new Array(tokens.length - predictFrom).fill(0); // the prompt pass: not charged
    this.elapsed += this.price(tokens.length);
    return new Array(tokens.length).fill(0);
  }
  async truncate(length: number) {
    this.cache.length = length;
  }
  dispose() {}
}

export interface PolicySimResult {
  readonly samples: number;
  readonly targetTokens: number;
  readonly greedyMs: number;
  readonly policyMs: number;
  readonly oracleMs: number;
  readonly speedup: number;
  readonly oracleSpeedup: number;
  readonly fractionOfOracle: number;
  readonly steps: number;
  readonly draftedTokens: number;
  readonly acceptedTokens: number;
}

/**
 * Runs `makePolicy()` (a fresh policy per sample, as per request) over the samples on the virtual clock.
 * `learned`: the cost model the policy prices drafts with, if it learns one (shared by the samples as
 * by a model's requests); the decoder records every pass into it at the pass's charged price.
 */
export async function simulatePolicy(
  samples: readonly TokenizedSample[],
  costs: CostCurve,
  makePolicy: () => DraftPolicy,
  learned?: PassCostRecorder,
): Promise<PolicySimResult> {
  let greedyMs = 0;
  let policyMs = 0;
  let oracleMs = 0;
  const counts = new StepCounter();
  let targetTokens = 0;
  for (const sample of samples) {
    const target = sample.target.map((t) => (t === END ? END + 1 : t));
    const inner = new ChargedSequence((tokens) => costs.cost(tokens));
    const sequence = new ForcedSequence(inner, sample.prompt.length, target, END);
    const policy = makePolicy();
    const proposer = new ReferenceProposer({ references: sample.references, policy });
    // The clock is virtual: the decoder times passes (and records their cost) at the charged price.
    const result = await decode(countingModel, sequence, sample.prompt, { maxTokens: target.length + 1, proposer, costs: learned, clock: () => inner.elapsed });
    policyMs += inner.elapsed;
    counts.add(result.stats);
    targetTokens += target.length;
    const bound = oracleTime(suffixProfile({ ...sample, target }, 64).agree, target.length, costs);
    oracleMs += bound.oracleMs;
    greedyMs += bound.greedyMs;
  }
  const speedup = greedyMs / policyMs;
  const oracleSpeedup = greedyMs / oracleMs;
  return {
    samples: samples.length,
    targetTokens,
    greedyMs,
    policyMs,
    oracleMs,
    speedup,
    oracleSpeedup,
    fractionOfOracle: speedup / oracleSpeedup,
    steps: counts.steps,
    draftedTokens: counts.draftedTokens,
    acceptedTokens: counts.acceptedTokens,
  };
}
