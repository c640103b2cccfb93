/**
 * Derived benchmark sets, built from any dataset in the LLMA schema:
 * - "swapped" (no-overlap control): every sample gets another sample's documents, in the prompt and as
 *   references, so copying finds little and any slowdown a method causes shows up;
 * - "edited" (near-copy): the target is the sample's first document with a few words changed in every
 *   sentence, the way an editing or rewriting request returns a lightly changed copy of its input;
 * - "cached" (cache hit): the sample's own answer is a reference, as when a question is asked again.
 */
import { mulberry32 } from "../core/random.js";
import type { Dataset, Sample } from "./dataset.js";

export function swappedDocsSet(dataset: Dataset): Dataset {
  const samples = dataset.samples;
  if (samples.length < 2) throw new Error(`the no-overlap control needs at least 2 samples; ${dataset.name} has ${samples.length}`);
  const half = Math.floor(samples.length / 2); // pair each sample with one far away in the file
  return {
    name: `${dataset.name}-swapped`,
    path: dataset.path,
    skipped: dataset.skipped,
    samples: samples.map((sample, i) => {
      const other = samples[(i + half) % samples.length];
      // The prompt is rebuilt around the other sample's documents: the query keeps no copy of its own.
      return { id: sample.id, query: stripDocs(sample), docs: other.docs, target: sample.target };
    }),
  };
}

/** The query without its own documents (CNN/DM queries embed the article). */
function stripDocs(sample: Sample): string {
  let query = sample.query;
  for (const doc of sample.docs) if (doc.length > 0) query = query.split(doc).join("");
  return query;
}

const REPLACEMENTS = ["new", "major", "local", "early", "several", "recent", "other", "small", "large", "key"];

/** A copy of `text` with about `perSentence` words replaced in every sentence (seeded). */
export function lightlyEdited(text: string, seed: number, perSentence = 2): string {
  const random = mulberry32(seed);
  const sentences = text.match(/[^.!?]+[.!?]*\s*/g) ?? [text];
  return sentences
    .map((sentence) => {
      const words = sentence.split(" ");
      const candidates = words.map((word, i) => (/^[a-z]{4,}$/.test(word) ? i : -1)).filter((i) => i >= 0);
      for (let e = 0; e < perSentence && candidates.length > 0; e++) {
        const pick = candidates.splice(Math.floor(random() * candidates.length), 1)[0];
        words[pick] = REPLACEMENTS[Math.floor(random() * REPLACEMENTS.length)];
      }
      return words.join(" ");
    })
    .join("");
}

export function editedCopySet(dataset: Dataset, maxChars = 700): Dataset {
  return {
    name: `${dataset.name}-edited`,
    path: dataset.path,
    skipped: dataset.skipped,
    samples: dataset.samples
      .filter((sample) => sample.docs.length > 0 && sample.docs[0].length > 0)
      .map((sample) => {
        const doc = cutAtSentence(sample.docs[0], maxChars);
        return {
          id: sample.id,
          query: "Rewrite the document, changing a few words in every sentence.",
          docs: [doc],
          target: lightlyEdited(doc, sample.id + 1),
        };
      }),
  };
}

function cutAtSentence(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const cut = text.slice(0, maxChars);
  const end = cut.lastIndexOf(". ");
  return end > maxChars / 2 ? cut.slice(0, end + 1) : cut;
}

/**
 * "cached" (a cache hit): the same question asked again, its earlier answer held by the application
 * and given as a reference (never in the prompt), the documents as before.
 */
export function cacheHitSet(dataset: Dataset): Dataset {
  return {
    name: `${dataset.name}-cached`,
    path: dataset.path,
    skipped: dataset.skipped,
    samples: dataset.samples.map((sample) => ({ ...sample, cached: [sample.target] })),
  };
}

export const DERIVED_SETS = {
  swapped: swappedDocsSet,
  edited: editedCopySet,
  cached: cacheHitSet,
} as const;
