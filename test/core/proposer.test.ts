import { describe, expect, it } from "vitest";
import { CostCurve } from "../../src/core/cost-model.js";
import { AcceptanceModel, CostAwarePolicy, FixedPolicy } from "../../src/core/policy.js";
import { NO_DRAFT, ReferenceProposer } from "../../src/core/proposer.js";

/**
 * The reference has a phrase "7 8" twice: early (followed by 30 31) and late, right after the place the
 * output left the reference (followed by 9 10 11 ...). After the output departs at an edited token and
 * then emits 7 8, the globally longest match is the early occurrence; the rejoin candidate is the
 * late one, next to where the copy stopped.
 */
const early = [7, 8, 30, 31, 32, 33];
const copied = [40, 41, 42, 43, 44, 45];
const late = [50, 7, 8, 9, 10, 11, 12, 13, 14];
const reference = [...early, ...copied, ...late];

function proposerWith(policy: CostAwarePolicy | FixedPolicy) {
  const proposer = new ReferenceProposer({ references: [reference], policy, indexOutput: false, indexPrompt: false });
  proposer.append([1, 2, 3], "prompt");
  // After the output's own 40, a draft copies 41..45 50 7 from the reference (text position 7 on).
  proposer.append([40], "output");
  expect(proposer.propose(7).tokens[0]).toBe(41);
  const draft = { tokens: [41, 42, 43, 44, 45, 50, 7], context: { matchLength: 1, available: 7 }, start: reference.indexOf(41) };
  // The model accepts 41..45 and 50 and then emits 99 instead of 7 (an edited word).
  proposer.accept(draft, { accepted: 6, next: 99 });
  // The output rejoins with the reference's next tokens 7 8 (two passes without a draft).
  proposer.accept(NO_DRAFT, { accepted: 0, next: 7 });
  proposer.accept(NO_DRAFT, { accepted: 0, next: 8 });
  return proposer;
}

describe("ReferenceProposer", () => {
  /** An acceptance model that has seen rejoin ("near") drafts accepted and others rejected, or the reverse. */
  function trained(nearIsGood: boolean) {
    const acceptance = new AcceptanceModel();
    for (let i = 0; i < 40; i++) {
      acceptance.record(4, nearIsGood ? 4 : 0, { matchLength: 2, available: 4, placement: "near" });
      acceptance.record(4, nearIsGood ? 0 : 4, { matchLength: 2, available: 4, placement: "elsewhere" });
    }
    return acceptance;
  }

  it("drafts from where the output rejoins its source after an edit when such drafts pay, not from the phrase's first occurrence", () => {
    const policy = new CostAwarePolicy(CostCurve.linear(20, 0.3), { acceptance: trained(true) });
    const draft = proposerWith(policy).propose(4);
    expect(draft.tokens).toEqual([9, 10, 11, 12]);
    expect(draft.context?.placement).toBe("near");
    expect(draft.context?.matchLength).toBe(2);
  });

  it("picks the candidate with the better expected rate: the first occurrence when rejoin drafts fail", () => {
    const policy = new CostAwarePolicy(CostCurve.linear(20, 0.3), { acceptance: trained(false) });
    const draft = proposerWith(policy).propose(4);
    expect(draft.tokens).toEqual([30, 31, 32, 33]);
    expect(draft.context?.placement).toBe("elsewhere");
  });

  it("keeps the paper's single longest, earliest match under the fixed policy", () => {
    const draft = proposerWith(new FixedPolicy(1, 4)).propose(4);
    expect(draft.tokens).toEqual([30, 31, 32, 33]);
  });

  it("labels a draft that continues a fully accepted copy as continuing", () => {
    const policy = new CostAwarePolicy(CostCurve.linear(20, 0.3));
    const proposer = new ReferenceProposer({ references: [reference], policy, indexOutput: false, indexPrompt: false });
    proposer.append([40], "output");
    const first = proposer.propose(3);
    expect(first.tokens).toEqual([41, 42, 43]);
    proposer.accept(first, { accepted: 3, next: 44 });
    const next = proposer.propose(2);
    expect(next.tokens).toEqual([45, 50]);
    expect(next.context?.placement).toBe("continuing");
  });

  it("opens a rejoin window only after a copy of at least two tokens: a one-token copy that departs is not an edit", () => {
    const placements = (accepted: number) => {
      // A fresh policy each time: what one case's draft teaches the acceptance model must not price the other's.
      const policy = new CostAwarePolicy(CostCurve.linear(20, 0.3));
      const proposer = new ReferenceProposer({ references: [reference], policy, indexOutput: false, indexPrompt: false });
      proposer.append([40], "output");
      const start = reference.indexOf(41);
      proposer.accept({ tokens: [41, 42, 43], context: { matchLength: 1, available: 3 }, start }, { accepted, next: 99 });
      // The output goes on with the reference's tokens after the departure: 44 (or 43 44) then 45.
      for (const token of reference.slice(start + accepted + 1, reference.indexOf(45) + 1)) proposer.accept(NO_DRAFT, { accepted: 0, next: token });
      return proposer.propose(2).context?.placement;
    };
    expect(placements(2)).toBe("near");
    expect(placements(1)).toBe("elsewhere");
  });
});
