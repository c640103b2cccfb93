/** A seeded English-like text of about `chars` characters (sentences, abbreviations, numbers, line breaks): a large reference. */
import { mulberry32 } from "../../src/core/random.js";

const WORDS = (
  "the of and to in a is that for it as was with be by on not he this are or his from at which but have an they you were " +
  "Dr. Smith paid $3.50 in the U.S. e.g. 1,024 tokens — naïve café 東京 emoji 🙂 can't won't it's (see below) [1] well-known"
).split(" ");

export function largeText(chars: number, seed = 1): string {
  const random = mulberry32(seed);
  const parts: string[] = [];
  let length = 0;
  while (length < chars) {
    const word = WORDS[Math.floor(random() * WORDS.length)];
    const r = random();
    const gap = r < 0.06 ? ".\n" : r < 0.07 ? ".\n\n" : r < 0.1 ? ", " : r < 0.105 ? "  " : " ";
    parts.push(word, gap);
    length += word.length + gap.length;
  }
  return parts.join("");
}
