/**
 * TraceRecorder with a detokenizer that shows its input: each decoder step becomes one entry whose source is named as the
 * request knows it (the reference's origin by its index; the prompt as "conversation"), whose texts
 * split the pass into accepted / rejected / the model's own token, and entries are handed out once.
 */
import { describe, expect, it } from "vitest";
import { TraceRecorder } from "../../src/server/trace.js";

describe("TraceRecorder", () => {
  // A detokenizer that writes out what it was given, so the test sees each piece's tokens and context.
  const text = (tokens: readonly number[], context: readonly number[] = []) => `[${context.join(",")}|${tokens.join(",")}]`;
  const model = { detokenize: text };

  it("names sources by the reference's origin, the prompt as the conversation, the output as output; no draft: null", () => {
    const recorder = new TraceRecorder(model, ["prediction", "reference", "document", "cache"], [1, 2]);
    const step = { draft: [3, 4], accepted: 1, emitted: [3, 9], ms: 1 };
    recorder.record({ pass: 0, draft: [], accepted: 0, emitted: [5], ms: 2 });
    recorder.record({ pass: 1, ...step, source: "reference", reference: 0 });
    recorder.record({ pass: 2, ...step, source: "reference", reference: 2 });
    recorder.record({ pass: 3, ...step, source: "reference", reference: 3 });
    recorder.record({ pass: 4, ...step, source: "reference", reference: 1 });
    recorder.record({ pass: 5, ...step, source: "prompt" });
    recorder.record({ pass: 6, ...step, source: "output" });
    expect(recorder.take().map((e) => e.source)).toEqual([null, "prediction", "document", "cache", "reference", "conversation", "output"]);
    expect(recorder.take()).toEqual([]);
    expect(recorder.entries).toHaveLength(7);
  });

  it("splits a pass into accepted, rejected and generated text, with the preceding tokens as the detokenizer's context", () => {
    const recorder = new TraceRecorder(model, ["prediction"], [1, 2]);
    recorder.record({ pass: 0, draft: [], accepted: 0, emitted: [5], ms: 0.5 });
    recorder.record({ pass: 1, draft: [6, 7, 8], accepted: 2, emitted: [6, 7, 11], ms: 3.25, source: "reference", reference: 0 });
    const [first, second] = recorder.take();
    expect(first).toEqual({ pass: 0, drafted: 0, accepted: 0, emitted: 1, source: null, accepted_text: "", rejected_text: "", generated_text: text([5], [1, 2]), ms: 0.5 });
    expect(second).toEqual({
      pass: 1,
      drafted: 3,
      accepted: 2,
      emitted: 3,
      source: "prediction",
      accepted_text: text([6, 7], [1, 2, 5]),
      rejected_text: text([8], [1, 2, 5, 6, 7]),
      generated_text: text([11], [1, 2, 5, 6, 7]),
      ms: 3.25,
    });
    expect(second.accepted_text).toBe("[1,2,5|6,7]");
  });

  it("a pass cut short (end of generation) has no generated text; a reference the request does not have is an error", () => {
    const recorder = new TraceRecorder(model, [], [1]);
    recorder.record({ pass: 1, draft: [], accepted: 0, emitted: [], ms: 0 });
    expect(recorder.take()[0]).toMatchObject({ emitted: 0, generated_text: "" });
    expect(() => recorder.record({ pass: 2, draft: [3], accepted: 0, emitted: [4], ms: 0, source: "reference", reference: 0 })).toThrow(/reference 0, but the request has 0 references/);
  });
});
