import { describe, expect, it } from "vitest";
import { ReferenceIndex } from "../../src/core/reference-index.js";
import { mulberry32, randomInt } from "../helpers/random.js";

/** Brute force: longest suffix of `stream` occurring in `text` (separators never match), earliest end. */
function bruteMatch(text: number[], stream: number[]): { length: number; end: number } | undefined {
  for (let length = stream.length; length >= 1; length--) {
    const pattern = stream.slice(stream.length - length);
    for (let end = length - 1; end < text.length; end++) {
      let ok = true;
      for (let i = 0; i < length; i++) {
        if (text[end - length + 1 + i] !== pattern[i]) {
          ok = false;
          break;
        }
      }
      if (ok) return { length, end };
    }
  }
  return undefined;
}

describe("ReferenceIndex", () => {
  it("finds the longest suffix match and its continuation", () => {
    const index = new ReferenceIndex();
    index.addReference([1, 2, 3, 4, 5, 6]);
    index.addReference([9, 2, 3, 7]);
    const cursor = index.cursor();
    for (const token of [8, 2, 3]) cursor.push(token, false);
    const match = cursor.match()!;
    expect(match.length).toBe(2);
    // earliest occurrence of [2, 3] is in the first reference: continues with 4, 5, 6
    expect(index.continuation(match.continuationStart, 10)).toEqual([4, 5, 6]);
    cursor.push(7, false);
    const match2 = cursor.match()!;
    expect(match2.length).toBe(3); // [2, 3, 7] only in the second reference... preceded by 9, not 3
    expect(index.continuation(match2.continuationStart, 10)).toEqual([]);
  });

  it("never matches across a source boundary", () => {
    const index = new ReferenceIndex();
    index.addReference([1, 2]);
    index.addReference([3, 4]);
    const cursor = index.cursor();
    cursor.push(2, false);
    cursor.push(3, false);
    expect(cursor.match()!.length).toBe(1);
    expect(index.continuation(cursor.match()!.continuationStart, 5)).toEqual([4]);
  });

  it("indexes the output as it grows, so a repeated span is found again", () => {
    const index = new ReferenceIndex();
    const cursor = index.cursor();
    for (const token of [5, 6, 7, 8, 5, 6]) cursor.push(token, true);
    const match = cursor.match()!;
    expect(match.length).toBe(2);
    expect(index.continuation(match.continuationStart, 3)).toEqual([7, 8, 5]);
    expect(index.sourceAt(match.continuationStart)).toBe("output");
  });

  it("rejects invalid token ids", () => {
    const index = new ReferenceIndex();
    expect(() => index.addReference([1, -3])).toThrow(/token id -3/);
    expect(() => index.addReference([1.5])).toThrow(/token id 1.5/);
  });

  it("agrees with a brute-force matcher on random sequences (500 cases)", () => {
    for (let seed = 1; seed <= 500; seed++) {
      const random = mulberry32(seed);
      const alphabet = 1 + randomInt(random, 6);
      const index = new ReferenceIndex();
      const text: number[] = []; // brute-force mirror of the indexed text, -1 for separators
      const references = randomInt(random, 4);
      for (let r = 0; r < references; r++) {
        const reference = Array.from({ length: randomInt(random, 30) }, () => randomInt(random, alphabet));
        if (reference.length === 0) continue;
        if (text.length > 0) text.push(-1);
        text.push(...reference);
        index.addReference(reference);
      }
      const cursor = index.cursor();
      const stream: number[] = [];
      let indexing = false;
      const steps = randomInt(random, 60);
      for (let step = 0; step < steps; step++) {
        const token = randomInt(random, alphabet);
        const indexIt = random() < 0.6;
        cursor.push(token, indexIt);
        stream.push(token);
        const expected = bruteMatch(text, stream);
        const actual = cursor.match();
        const context = `seed ${seed}, step ${step}`;
        expect(actual?.length, context).toBe(expected?.length);
        if (expected && actual) {
          expect(actual.continuationStart, context).toBe(expected.end + 1);
        }
        if (indexIt) {
          if (!indexing && text.length > 0) text.push(-1);
          text.push(token);
        }
        indexing = indexIt;
        if (actual) {
          const k = randomInt(random, 8);
          const brute: number[] = [];
          for (let i = expected!.end + 1; i < text.length && brute.length < k && text[i] >= 0; i++) brute.push(text[i]);
          expect(index.continuation(actual.continuationStart, k), context).toEqual(brute);
        }
      }
    }
  });
});
