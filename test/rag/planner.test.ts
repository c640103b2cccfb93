/**
 * The reference planner without a model: a word tokenizer that, like SentencePiece's dummy prefix,
 * gives a text tokenized on its own one token more than inside a prompt (so the fitting's estimate is
 * off and the rendered prompt has to correct it). Passage fitting keeps the passages the old
 * drop-one-and-re-tokenize loop kept, with a fixed number of whole-prompt tokenizations; a prompt that
 * fits tokenizes each passage once; the reference order is one for every source.
 */
import { describe, expect, it } from "vitest";
import { fitPrompt, orderReferences, planReferences, queryFrame, ragPrompt, REFERENCE_ORDER, withDocs } from "../../src/rag/planner.js";

/**
 * Words and single whitespace characters are tokens. A text tokenized on its own (no BOS) is one token
 * longer than inside a prompt ("prefix": a leading "▁" token, as SentencePiece's dummy prefix) or one
 * shorter ("merge": its first two pieces one token), so estimates from lengths on their own are off both ways.
 */
function wordModel(contextSize: number, alone: "prefix" | "merge" = "prefix") {
  const calls: string[] = [];
  return {
    calls,
    contextSize,
    tokenize(text: string, options?: { bos?: boolean }): number[] {
      calls.push(text);
      const pieces = text.match(/\S+|\s/g) ?? [];
      const tokens = pieces.map((piece) => [...piece].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 50_000, 7));
      if (options?.bos || /^\s/.test(text) || text === "") return options?.bos ? [1, ...tokens] : tokens;
      return alone === "prefix" ? [2, ...tokens] : tokens.slice(1);
    },
  };
}

const passages = Array.from({ length: 8 }, (_, i) => ({ text: `passage ${i} ${"word ".repeat(3 + ((i * 5) % 7)).trim()}`, id: i }));
const QUERY = "what is in the passages";

/** What the planner replaced: drop the lowest-ranked passage and tokenize the whole prompt again until it fits. */
function dropOneAtATime(model: ReturnType<typeof wordModel>, room: number): number {
  let kept = passages.length;
  while (kept > 0 && model.tokenize(ragPrompt(QUERY, passages.slice(0, kept).map((p) => p.text)), { bos: true }).length + room > model.contextSize) kept--;
  return kept;
}

describe("fitPrompt", () => {
  it("keeps the passages the drop-one-at-a-time loop kept, with a fixed few whole-prompt tokenizations", () => {
    const full = wordModel(1 << 20).tokenize(ragPrompt(QUERY, passages.map((p) => p.text)), { bos: true }).length;
    for (let contextSize = 10; contextSize <= full + 20; contextSize++) {
      for (const [room, alone] of [[1, "prefix"], [7, "prefix"], [1, "merge"], [7, "merge"]] as const) {
        const model = wordModel(contextSize, alone);
        const fitted = fitPrompt(model, queryFrame(model, QUERY), passages, room);
        const expected = dropOneAtATime(wordModel(contextSize), room);
        expect(fitted.passages.map((p) => p.id), `context ${contextSize}, room ${room}, ${alone}`).toEqual(passages.slice(0, expected).map((p) => p.id));
        expect(fitted.prompt.text).toBe(ragPrompt(QUERY, fitted.passages.map((p) => p.text)));
        // The whole prompt, the prompt without passages, the estimate and a probe or two: not one per dropped passage.
        const wholePrompts = model.calls.filter((text) => text.startsWith("docs:"));
        expect(wholePrompts.length).toBeLessThanOrEqual(expected === passages.length ? 1 : 5);
        // On its own, each passage is tokenized at most once (only when the whole prompt did not fit).
        for (const p of passages) expect(model.calls.filter((text) => text === p.text).length).toBeLessThanOrEqual(1);
      }
    }
  });

  it("a prompt that fits is tokenized once, and with it each passage once", () => {
    const model = wordModel(4096);
    const fitted = fitPrompt(model, queryFrame(model, QUERY), passages, 256);
    expect(fitted.passages).toHaveLength(passages.length);
    expect(model.calls).toHaveLength(1);
    for (const p of passages) expect(model.calls.filter((text) => text.includes(p.text)).length).toBe(1);
  });
});

describe("orderReferences", () => {
  const sources = {
    prediction: "the predicted output",
    cached: [{ answer: "cached text", tokens: [5, 6, 7] }, { answer: "cached without tokens" }],
    references: ["client reference", "", [9, 9]],
    passages: [{ text: "passage one" }, { text: "passage two" }],
  };

  it("one order for every entry point: prediction, cached answers (their tokens when stored), the request's references, then passages", () => {
    expect(REFERENCE_ORDER).toEqual(["prediction", "cache", "reference", "document"]);
    const list = orderReferences({ ...sources, indexPrompt: false });
    expect(list.references).toEqual(["the predicted output", [5, 6, 7], "cached without tokens", "client reference", [9, 9], "passage one", "passage two"]);
    expect(list.origins).toEqual(["prediction", "cache", "cache", "reference", "reference", "document", "document"]);
  });

  it("passages in an indexed prompt are not references too (the prompt's index finds them)", () => {
    const list = orderReferences(sources);
    expect(list.references).not.toContain("passage one");
    expect(list.origins).not.toContain("document");
    expect(list.references).toHaveLength(list.origins.length);
  });

  it("planReferences: the fitted passages, and references that leave them to the prompt", () => {
    const model = wordModel(4096);
    const plan = planReferences(model, { frame: queryFrame(model, QUERY), passages, cached: sources.cached, room: 64 });
    expect(plan.indexPrompt).toBe(true);
    expect(plan.passages).toHaveLength(passages.length);
    expect(plan.origins).toEqual(["cache", "cache"]);
    const unindexed = planReferences(model, { frame: queryFrame(model, QUERY), passages, cached: sources.cached, room: 64, indexPrompt: false });
    expect(unindexed.references.slice(2)).toEqual(passages.map((p) => p.text));
  });
});

describe("withDocs", () => {
  it("puts the docs after the leading system and developer messages", () => {
    const messages = [
      { role: "system", content: "be brief" },
      { role: "developer", content: "cite" },
      { role: "user", content: "q" },
    ];
    expect(withDocs(messages, ["a", "b"]).map((m) => m.content)).toEqual(["be brief", "cite", "docs:\na\nb", "q"]);
    expect(withDocs(messages, [])).toBe(messages);
  });
});
