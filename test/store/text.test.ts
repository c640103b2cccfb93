/** Sentence splitting by Unicode's sentence boundaries (Intl.Segmenter), and passages of whole sentences around abbreviations and decimals. */
import { describe, expect, it } from "vitest";
import { chunkText, splitSentences } from "../../src/store/text.js";

describe("splitSentences (Intl.Segmenter)", () => {
  it("keeps titles, initials, dotted acronyms before lower case and decimals inside their sentence", () => {
    const text =
      'Dr. Smith went to Washington. He paid $3.5 million in the U.S. last year! Was it worth it? "Yes," he said. ' +
      "Mr. Jones disagreed (see p. 4). J. R. R. Tolkien wrote it. Prices rose 2.75% e.g. in food.";
    expect(splitSentences(text)).toEqual([
      "Dr. Smith went to Washington.",
      "He paid $3.5 million in the U.S. last year!",
      "Was it worth it?",
      '"Yes," he said.',
      "Mr. Jones disagreed (see p. 4).",
      "J. R. R. Tolkien wrote it.",
      "Prices rose 2.75% e.g. in food.",
    ]);
  });

  it("never joins across a blank line, flattens line breaks inside a paragraph, splits other scripts", () => {
    expect(splitSentences("A line\nbroken here. Next one\n\nNew paragraph without a stop\n\n\n  \nLast.")).toEqual([
      "A line broken here.",
      "Next one",
      "New paragraph without a stop",
      "Last.",
    ]);
    // Unicode's rules know the ideographic full stop; a regex on . ! ? did not.
    expect(splitSentences("東京は大きい。大阪も大きい。")).toEqual(["東京は大きい。", "大阪も大きい。"]);
    expect(splitSentences("¿Qué pasa? ¡Nada! Bien.")).toEqual(["¿Qué pasa?", "¡Nada!", "Bien."]);
    expect(splitSentences("")).toEqual([]);
  });

  it("a sentence that ends with a title abbreviation at the end of the text is still kept", () => {
    expect(splitSentences("She met the Dr.")).toEqual(["She met the Dr."]);
  });
});

describe("chunkText passage boundaries", () => {
  it("never cuts a passage after 'Dr.', inside 'U.S.' or '3.5'", () => {
    const sentence = (i: number) => `Dr. Smith of the U.S. office measured ${i}.5 units on day ${i} of the long study.`;
    const text = Array.from({ length: 60 }, (_, i) => sentence(i)).join(" ");
    const passages = chunkText(text, { targetWords: 40, maxWords: 60 });
    expect(passages.length).toBeGreaterThan(5);
    for (const passage of passages) {
      expect(passage).toMatch(/^Dr\. Smith/);
      expect(passage).toMatch(/study\.$/);
      expect(passage.split(" ").length).toBeLessThanOrEqual(60);
    }
    expect(passages.join(" ")).toBe(text);
  });
});
