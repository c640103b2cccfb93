/** The matrix's bookkeeping (no model): which setting made the same weights exact, and the table. */
import { describe, expect, it } from "vitest";
import { renderMatrixMarkdown, renderMatrixSummary, testShapes, withRemedies, type MatrixCell } from "../../src/bench/exactness-matrix.js";

const cell = (quant: string, kvCacheType: MatrixCell["kvCacheType"], threads: number, exact: boolean): MatrixCell => ({
  shape: "tiny",
  quant,
  kvCacheType,
  threads,
  exact,
  exactUpTo: exact ? 64 : 1,
  widths: [{ width: 2, argmaxEqual: true, bitsEqual: exact, ...(exact ? {} : { firstDiff: { cachedTokens: 272, kind: "bits" as const } }) }],
});

describe("exactness matrix", () => {
  it("names another KV type at the same threads first, then another thread count, else nothing", () => {
    const cells = withRemedies([
      cell("Q8_0", "F16", 2, false),
      cell("Q8_0", "Q8_0", 2, true),
      cell("Q8_0", "BF16", 2, true),
      cell("F16", "F16", 2, false),
      cell("F16", "F16", 1, true),
      cell("Q4_0", "F16", 2, false),
      cell("Q4_0", "Q8_0", 1, true),
      cell("Q4_0", "BF16", 2, false),
      { shape: "tiny", quant: "Q5_K", kvCacheType: "F16", threads: 1, error: "not supported" },
    ]);
    expect(cells[0].madeExactBy).toBe("KV Q8_0 or KV BF16");
    expect(cells[1].madeExactBy).toBeUndefined();
    expect(cells[3].madeExactBy).toBe("1 thread(s)");
    expect(cells[5].madeExactBy).toBe("KV Q8_0 + 1 thread(s)");
    const alone = withRemedies([cell("F16", "Q8_0", 2, false), cell("Q8_0", "Q8_0", 2, true)]);
    expect(alone[0].madeExactBy).toBeNull();
    expect(alone[0].exactWithOtherWeights).toEqual(["Q8_0"]);
    expect(renderMatrixMarkdown({ createdAt: "now", backend: "CPU", contextSize: 2047, cells: alone })).toMatch(/\| none tried; Q8_0 weights are exact here \|/);
    const markdown = renderMatrixMarkdown({ createdAt: "now", backend: "CPU", contextSize: 2047, cells }, "llma exactness");
    expect(markdown).toMatch(/\| tiny \| Q8_0 \| F16 \| 2 \| no \| 1 \| 2 \(logit bits from 272 cached\) \| KV Q8_0 or KV BF16 \|/);
    expect(markdown).toMatch(/\| tiny \| Q5_K \| F16 \| 1 \| \? \| – \| error: not supported \| – \|/);
    // The summary: one row per shape x weights with a probed cell, the widest exact pass per KV type x threads.
    const summary = renderMatrixSummary({ createdAt: "now", backend: "CPU", contextSize: 2047, cells });
    expect(summary).toMatch(/^\| shape \| weights \| KV F16, 2 thr\. \| KV Q8_0, 2 thr\. \| KV BF16, 2 thr\. \| KV F16, 1 thr\. \| KV Q8_0, 1 thr\. \|/);
    expect(summary).toMatch(/\| tiny \| Q8_0 \| 1 \| \*\*64\*\* \| \*\*64\*\* \| – \| – \|/);
    expect(summary).toMatch(/\| tiny \| Q4_0 \| 1 \| – \| 1 \| – \| \*\*64\*\* \|/);
    expect(summary).not.toMatch(/Q5_K/); // only an error cell: left out
    expect(markdown).toContain(summary);
  });

  it("the default shapes are the writer's small ones", () => {
    expect(testShapes()).toContain("tiny");
    expect(testShapes()).not.toContain("llama-7b");
  });
});
