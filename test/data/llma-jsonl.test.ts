/**
 * The LLMA JSONL schema has one parser: the benchmarks' datasets and the document store read the same
 * rows of the same file and reject a bad one with the same error, naming the file, line and field.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseDataset } from "../../src/bench/dataset.js";
import { parseLlmaRows } from "../../src/data/llma-jsonl.js";
import { parseJsonlDocuments } from "../../src/store/documents.js";

const row = (value: unknown) => JSON.stringify(value);

describe("LLMA JSONL rows", () => {
  it("query, docs and result.text; blank lines skipped, line numbers kept; other fields ignored", () => {
    const content = [row({ query: "q0", docs: ["a", "b"], result: { text: "0####t0", score: 1 }, extra: true }), "", row({ query: "q1", docs: [] }), ""].join("\n");
    expect(parseLlmaRows(content, "f.jsonl")).toEqual([
      { line: 0, query: "q0", docs: ["a", "b"], resultText: "0####t0" },
      { line: 2, query: "q1", docs: [] },
    ]);
  });

  it("the bench data files parse, and both readers see the same rows", () => {
    for (const path of ["bench/data/llma-rag.jsonl", "bench/data/llma-cnndm.jsonl"]) {
      const content = readFileSync(path, "utf8");
      const rows = parseLlmaRows(content, path);
      const dataset = parseDataset(content, path);
      expect(dataset.samples.length + dataset.skipped).toBe(rows.length);
      const documents = parseJsonlDocuments(content, path);
      expect(documents.length).toBe(rows.reduce((n, r) => n + r.docs.filter((d) => d.trim() !== "").length, 0));
      expect(new Set(documents.map((d) => d.row))).toEqual(new Set(rows.filter((r) => r.docs.some((d) => d.trim() !== "")).map((r) => r.line)));
    }
  });

  it.each([
    ["not JSON", "{query", /^f\.jsonl:2: not valid JSON/],
    ["not an object", "[1, 2]", /^f\.jsonl:2: not an LLMA row: field "\(row\)"/],
    ["docs not a list", row({ query: "q", docs: "not a list" }), /^f\.jsonl:2: not an LLMA row: field "docs"/],
    ["a doc that is not a string", row({ query: "q", docs: ["a", 3] }), /^f\.jsonl:2: not an LLMA row: field "docs\.1"/],
    ["no query", row({ docs: ["a"] }), /^f\.jsonl:2: not an LLMA row: field "query"/],
    ["result.text not a string", row({ query: "q", docs: [], result: { text: 5 } }), /^f\.jsonl:2: not an LLMA row: field "result\.text"/],
  ])("%s: both readers fail with the same error, naming the line and the field", (_, bad, message) => {
    const content = `${row({ query: "fine", docs: ["fine"], result: { text: "t" } })}\n${bad}\n`;
    const errorOf = (read: () => unknown) => {
      try {
        read();
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error("no error");
    };
    const fromDataset = errorOf(() => parseDataset(content, "f.jsonl"));
    expect(fromDataset).toMatch(message);
    expect(errorOf(() => parseJsonlDocuments(content, "f.jsonl"))).toBe(fromDataset);
  });
});
