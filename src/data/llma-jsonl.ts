/**
 * The LLMA data schema (microsoft/LMOps llma), one JSON object a line:
 * `{"query": string, "docs": [string, ...], "result": {"text": string, ...}}` (`result` optional, other
 * fields ignored). The one parser of it: the benchmarks' datasets (bench/dataset.ts) and the document
 * store's JSONL files (store/documents.ts) read the same rows and fail with the same errors, which name
 * the file, the line and the field.
 */
import { z } from "zod";

const rowSchema = z.object({
  query: z.string(),
  docs: z.array(z.string()),
  result: z.object({ text: z.string().optional() }).passthrough().optional(),
});

const EXPECTED = `{"query": string, "docs": [string, ...], "result": {"text": string}}`;

export interface LlmaRow {
  /** 0-based line number in the file. */
  readonly line: number;
  readonly query: string;
  /** The row's documents (passages), as given (empty ones included). */
  readonly docs: readonly string[];
  /** result.text: the known output (absent when the row has none). */
  readonly resultText?: string;
}

/** The rows of a JSONL file in the LLMA schema (blank lines skipped); `path` names the file in errors. */
export function parseLlmaRows(content: string, path = "<data>"): LlmaRow[] {
  const rows: LlmaRow[] = [];
  content.split("\n").forEach((text, line) => {
    if (text.trim() === "") return;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new Error(`${path}:${line + 1}: not valid JSON (${(error as Error).message})`);
    }
    const parsed = rowSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`${path}:${line + 1}: not an LLMA row: field "${issue.path.join(".") || "(row)"}" ${issue.message} (expected ${EXPECTED})`);
    }
    const { query, docs, result } = parsed.data;
    rows.push({ line, query, docs, ...(result?.text !== undefined ? { resultText: result.text } : {}) });
  });
  return rows;
}
