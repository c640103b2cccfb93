import { randomInt } from "./random.js";

/** A reference made of spans of `truth` with random edits, plus unrelated noise. */
export function editedCopy(random: () => number, truth: readonly number[], vocabularySize: number): number[] {
  const out: number[] = [];
  let i = randomInt(random, 4);
  while (i < truth.length) {
    const r = random();
    if (r < 0.08) out.push(1 + randomInt(random, vocabularySize - 1)); // insertion
    else if (r < 0.14) i++; // deletion
    else if (r < 0.2) {
      out.push(1 + randomInt(random, vocabularySize - 1)); // substitution
      i++;
    } else if (r < 0.23) i += randomInt(random, 10); // skip a span
    else out.push(truth[i++]);
  }
  return out;
}
