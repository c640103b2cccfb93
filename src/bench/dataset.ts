import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { parseLlmaRows } from "../data/llma-jsonl.js";

/** One row of the LLMA data schema (see data/llma-jsonl.ts): a query, its documents, the target output. */
export interface Sample {
  /** 0-based line number in the file. */
  readonly id: number;
  readonly query: string;
  readonly docs: readonly string[];
  /** The known output (result.text, without the `<index>####` marker CNN/DM rows start with). */
  readonly target: string;
  /**
   * Texts the application holds besides the documents, given as references only (not in the prompt):
   * e.g. the answer cached for the same question asked earlier.
   */
  readonly cached?: readonly string[];
}

export interface Dataset {
  readonly name: string;
  readonly path: string;
  readonly samples: readonly Sample[];
  /** Rows without a non-empty result.text (skipped, as the paper's code does). */
  readonly skipped: number;
}

/** Loads a JSONL file in the LLMA schema; malformed rows are errors that name the file and line. */
export async function loadDataset(path: string): Promise<Dataset> {
  let content: string;
  try {
    content = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new Error(`data file not found: ${path}`);
    throw new Error(`cannot read data file ${path}: ${(error as Error).message}`);
  }
  return parseDataset(content, path);
}

export function parseDataset(content: string, path = "<data>"): Dataset {
  const samples: Sample[] = [];
  let skipped = 0;
  for (const row of parseLlmaRows(content, path)) {
    const text = row.resultText;
    if (text === undefined || text.trim() === "") {
      skipped++;
      continue;
    }
    samples.push({ id: row.line, query: row.query, docs: row.docs, target: text.replace(/^\d+####/, "") });
  }
  if (samples.length === 0) throw new Error(`${path}: no usable rows (every row lacks result.text, or the file is empty)`);
  return { name: basename(path).replace(/\.jsonl?$/, ""), path, samples, skipped };
}

/**
 * The prompt for a sample. Rows whose query already holds every document (CNN/DM's instruction with
 * the article) are their own prompt; otherwise the paper's retrieval template is used:
 * "docs:\n" + docs.join("\n") + "\nquery: " + query + "\nanswer:".
 */
export function samplePrompt(sample: Pick<Sample, "query" | "docs">, docs: readonly string[] = sample.docs): string {
  if (sample.docs.length > 0 && sample.docs.every((doc) => sample.query.includes(doc.slice(0, 200)))) return sample.query;
  return `docs:\n${docs.join("\n")}\nquery: ${sample.query}\nanswer:`;
}
