/**
 * The decoder's per-pass report (onStep), which the server's `llma.trace` streams: every pass is
 * reported once, in order, with its draft, the accepted prefix, what it emitted and the draft's source;
 * the emitted tokens reassemble the output exactly, and the counts agree with the stats.
 */
import { describe, expect, it } from "vitest";
import { decode, type DecodeStep } from "../../src/core/decoder.js";
import { FixedPolicy } from "../../src/core/policy.js";
import { ReferenceProposer } from "../../src/core/proposer.js";
import { ToyModel } from "../helpers/toy-model.js";

describe("decode onStep", () => {
  it("reports every pass: drafts, accepted prefixes, emitted tokens that reassemble the output, and which reference a draft came from", async () => {
    const model = new ToyModel();
    const prompt = [5, 6, 7];
    const greedy = await decode(model, await model.createSequence(), prompt, { maxTokens: 60 });
    // Reference 1 is the true continuation with one token changed at 25: a draft is rejected there.
    const edited = [...greedy.tokens];
    edited[25] = (edited[25] + 1) % 40;
    const proposer = new ReferenceProposer({ references: [[], [...prompt, ...edited]], policy: new FixedPolicy(1, 8), indexPrompt: false, indexOutput: false });
    const steps: DecodeStep[] = [];
    const llma = await decode(model, await model.createSequence(), prompt, { maxTokens: 60, proposer, onStep: (step) => steps.push(step) });

    expect(llma.tokens).toEqual(greedy.tokens);
    expect(steps.map((s) => s.pass)).toEqual(steps.map((_, i) => i));
    expect(steps.length).toBe(llma.stats.steps);
    expect(steps[0]).toMatchObject({ pass: 0, draft: [], accepted: 0, emitted: [greedy.tokens[0]] });
    expect(steps.flatMap((s) => s.emitted)).toEqual(llma.tokens);
    const drafted = steps.filter((s) => s.draft.length > 0);
    expect(drafted.length).toBe(llma.stats.draftSteps);
    expect(drafted.reduce((n, s) => n + s.draft.length, 0)).toBe(llma.stats.draftedTokens);
    expect(drafted.reduce((n, s) => n + s.accepted, 0)).toBe(llma.stats.acceptedTokens);
    for (const step of drafted) {
      expect(step.source).toBe("reference");
      // The empty reference 0 still counts: the copy is named as the second reference.
      expect(step.reference).toBe(1);
      expect(step.emitted.slice(0, step.accepted)).toEqual(step.draft.slice(0, step.accepted));
    }
    expect(drafted.some((s) => s.accepted < s.draft.length)).toBe(true);
    for (const step of steps.filter((s) => s.draft.length === 0)) {
      expect(step.source).toBeUndefined();
      expect(step.reference).toBeUndefined();
    }
  });

  it("the last pass reports only what was emitted when max tokens ends generation inside it", async () => {
    const model = new ToyModel();
    const prompt = [1, 2, 3];
    const greedy = await decode(model, await model.createSequence(), prompt, { maxTokens: 40 });
    const proposer = new ReferenceProposer({ references: [greedy.tokens], policy: new FixedPolicy(1, 20), indexPrompt: false, indexOutput: false });
    const steps: DecodeStep[] = [];
    const llma = await decode(model, await model.createSequence(), prompt, { maxTokens: 13, proposer, onStep: (step) => steps.push(step) });
    expect(llma.tokens).toEqual(greedy.tokens.slice(0, 13));
    expect(steps.flatMap((s) => s.emitted)).toEqual(llma.tokens);
    const last = steps[steps.length - 1];
    expect(last.emitted.length).toBeLessThanOrEqual(last.accepted + 1);
  });

  it("plain decoding reports one-token passes with no source", async () => {
    const model = new ToyModel();
    const steps: DecodeStep[] = [];
    const result = await decode(model, await model.createSequence(), [4, 5], { maxTokens: 10, onStep: (step) => steps.push(step) });
    expect(steps.length).toBe(10);
    expect(steps.every((s) => s.draft.length === 0 && s.emitted.length === 1 && s.source === undefined)).toBe(true);
    expect(steps.flatMap((s) => s.emitted)).toEqual(result.tokens);
  });
});
