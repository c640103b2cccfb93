/**
 * The output collector every decoding path shares (core/output-text.ts): when generation ends (end of
 * generation, a stop string, max tokens, a full context) and what text streams (never part of a stop
 * string, never half a character), with per-token entries riding along with the text they wrote.
 */
import { describe, expect, it } from "vitest";
import { OutputCollector } from "../../src/core/output-text.js";

/** Tokens are byte strings, decoded as UTF-8 the way llama.cpp does (an incomplete character: U+FFFD). Token 0 ends generation. */
function byteModel(pieces: readonly (string | readonly number[])[]) {
  const bytes = pieces.map((p) => (typeof p === "string" ? [...new TextEncoder().encode(p)] : [...p]));
  return {
    detokenize: (tokens: readonly number[]) => new TextDecoder().decode(new Uint8Array(tokens.flatMap((t) => bytes[t]))),
    isEndOfGeneration: (token: number) => token === 0,
  };
}

const model = byteModel(["", "Hel", "lo", " S", "TO", "P", " more", [0xc3], [0xa9], "!"]);
const [HEL, LO, S, TO, P, MORE, E1, E2, BANG] = [1, 2, 3, 4, 5, 6, 7, 8, 9];

function run(tokens: readonly number[], options: { maxTokens?: number; stop?: string[]; room?: number } = {}) {
  const pieces: string[] = [];
  const output = new OutputCollector(model, { maxTokens: options.maxTokens ?? 100, stop: options.stop, room: options.room, onText: (text) => pieces.push(text) });
  for (const token of tokens) {
    output.push(token);
    output.stream();
    if (output.done) break;
  }
  output.stream(true);
  return { output, pieces };
}

describe("OutputCollector", () => {
  it("a stop string written across tokens ends the text before it; no streamed piece shows any of it", () => {
    const { output, pieces } = run([HEL, LO, S, TO, P, MORE], { stop: ["STOP"] });
    expect(output.stopReason).toBe("stop");
    expect(output.text).toBe("Hello ");
    expect(output.tokens).toEqual([HEL, LO, S, TO, P]); // the tokens that wrote the stop string are generated tokens
    expect(pieces.join("")).toBe("Hello ");
    // While "S", "ST", "STO" could still become the stop string they were held back.
    expect(pieces.some((piece) => piece.includes("S"))).toBe(false);
  });

  it("a held-back tail that does not become a stop string is streamed in the end", () => {
    const { output, pieces } = run([HEL, LO, S, TO], { stop: ["STOP"] });
    expect(output.stopReason).toBeUndefined();
    expect(pieces.join("")).toBe("Hello STO");
  });

  it("a character split across tokens is never streamed broken", () => {
    const { output, pieces } = run([HEL, E1, E2, BANG]);
    expect(output.text).toBe("Helé!");
    expect(pieces.join("")).toBe("Helé!");
    expect(pieces.some((piece) => piece.includes("\uFFFD"))).toBe(false);
  });

  it("end of generation ends it and is not output; max tokens; a full context; maxTokens 0", () => {
    const eos = run([HEL, 0, LO]);
    expect([eos.output.stopReason, eos.output.tokens, eos.output.text]).toEqual(["eos", [HEL], "Hel"]);
    const max = run([HEL, LO, MORE], { maxTokens: 2 });
    expect([max.output.stopReason, max.output.text]).toEqual(["max-tokens", "Hello"]);
    const full = run([HEL, LO, MORE], { maxTokens: 5, room: 2 });
    expect([full.output.stopReason, full.output.text]).toEqual(["context-full", "Hello"]);
    // Both limits at once: the context is what ran out.
    expect(run([HEL, LO], { maxTokens: 2, room: 2 }).output.stopReason).toBe("context-full");
    const none = new OutputCollector(model, { maxTokens: 0 });
    expect([none.done, none.stopReason]).toEqual([true, "max-tokens"]);
  });

  it("pushAll takes a pass's tokens up to where generation ends; end() keeps the first reason", () => {
    const output = new OutputCollector(model, { maxTokens: 10, stop: ["STOP"] });
    expect(output.pushAll([HEL, LO])).toEqual([HEL, LO]);
    expect(output.pushAll([S, TO, P, MORE])).toEqual([S, TO, P]);
    output.end("abort");
    expect(output.stopReason).toBe("stop");
    expect(output.pushAll([MORE])).toEqual([]);
    const eos = new OutputCollector(model, { maxTokens: 10 });
    expect(eos.pushAll([HEL, 0, LO])).toEqual([HEL]);
    expect(eos.stopReason).toBe("eos");
  });

  it("each piece carries the entries of the tokens generated since the previous one; the last call carries what is left, text or not", () => {
    const calls: [string, readonly string[] | undefined][] = [];
    const output = new OutputCollector<string>(model, { maxTokens: 10, stop: ["STOP"], onText: (text, entries) => calls.push([text, entries]) });
    for (const token of [HEL, E1, E2, S, TO, P]) {
      output.push(token, () => `entry ${token}`);
      output.stream();
    }
    output.stream(true);
    expect(output.entries).toEqual([HEL, E1, E2, S, TO, P].map((t) => `entry ${t}`));
    // Three characters are held back (a 4-character stop string could start in them).
    expect(calls).toEqual([
      ["H", ["entry 1", "entry 7", "entry 8"]],
      ["el", ["entry 3"]],
      ["é ", ["entry 4"]],
      ["", ["entry 5"]],
    ]);
    expect(calls.map(([text]) => text).join("")).toBe(output.text);
    expect(() => new OutputCollector(model, { maxTokens: 1, stop: [""] })).toThrow(/stop strings must not be empty/);
    expect(() => new OutputCollector(model, { maxTokens: -1 })).toThrow(/maxTokens must be an integer >= 0/);
  });
});
