/**
 * The exactness matrix: the probe (src/backends/exactness.ts) over every shape x weight type x KV cache
 * type x thread count asked for, on the generated test models, each behind long contexts (runs after
 * 272 and 1,040 cached tokens). Where a cell is not exact it names the setting that made the same
 * weights exact, if one did. The shape and weight lists come from the writer at run time (others add
 * architectures and quantizations to it).
 */
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { exactnessFor, PROBE_ANCHORS, type ExactnessVerdict, type WidthVerdict } from "../backends/exactness.js";
import { planGgufModel, QUANTS, SHAPES, type Quant } from "../backends/gguf-writer.js";
import { LlamaCppModel, type KvCacheType } from "../backends/llama-cpp.js";
import { ensureModel } from "../backends/model-cache.js";

export const MATRIX_KV_TYPES: readonly KvCacheType[] = ["F16", "BF16", "Q8_0"];
export const MATRIX_THREADS: readonly number[] = [1, 2];
/** A shape counts as a test shape when its Q8_0 file is this small (tests load it in well under a second). */
const TEST_SHAPE_BYTES = 64 * 2 ** 20;

/** The writer's shapes small enough for tests (computed from the writer's current SHAPES). */
export function testShapes(): string[] {
  return Object.keys(SHAPES).filter((shape) => {
    try {
      return planGgufModel(shape, QUANTS.includes("Q8_0" as Quant) ? ("Q8_0" as Quant) : QUANTS[0]).totalBytes <= TEST_SHAPE_BYTES;
    } catch {
      return false; // a shape the writer cannot plan with this weight type is not a test shape
    }
  });
}

export interface MatrixOptions {
  readonly shapes?: readonly string[];
  readonly quants?: readonly string[];
  readonly kvTypes?: readonly KvCacheType[];
  readonly threads?: readonly number[];
  readonly gpu?: "auto" | false;
  readonly contextSize?: number;
  readonly refresh?: boolean;
  readonly cacheFile?: string;
  readonly onProgress?: (message: string) => void;
}

export interface MatrixCell {
  readonly shape: string;
  readonly quant: string;
  readonly kvCacheType: KvCacheType;
  readonly threads: number;
  readonly exact?: boolean;
  readonly exactUpTo?: number;
  readonly widths?: readonly WidthVerdict[];
  readonly anchors?: readonly number[];
  readonly ms?: number;
  readonly cached?: boolean;
  /** For a cell that is not exact: the settings that made the same weights exact (e.g. "KV Q8_0"), or null. */
  readonly madeExactBy?: string | null;
  /** For a cell no tried setting made exact: other weight types of the shape that are exact with this KV type and threads. */
  readonly exactWithOtherWeights?: readonly string[];
  /** Why the cell could not be probed (a weight type the shape does not support, a load failure). */
  readonly error?: string;
}

export interface ExactnessMatrix {
  readonly createdAt: string;
  readonly backend: string;
  readonly contextSize: number;
  readonly cells: readonly MatrixCell[];
}

/** Runs the probe over the matrix; one model loaded at a time. */
export async function runExactnessMatrix(options: MatrixOptions = {}): Promise<ExactnessMatrix> {
  const shapes = options.shapes ?? testShapes();
  const quants = options.quants ?? QUANTS;
  const kvTypes = options.kvTypes ?? MATRIX_KV_TYPES;
  const threadCounts = options.threads ?? MATRIX_THREADS;
  const contextSize = options.contextSize ?? 2048;
  const cells: MatrixCell[] = [];
  let backend = "CPU";
  for (const shape of shapes)
    for (const quant of quants) {
      let path: string;
      try {
        path = await ensureModel({ shape, quant: quant as Quant });
      } catch (error) {
        for (const kvCacheType of kvTypes) for (const threads of threadCounts) cells.push({ shape, quant, kvCacheType, threads, error: (error as Error).message });
        continue;
      }
      for (const kvCacheType of kvTypes)
        for (const threads of threadCounts) {
          options.onProgress?.(`${shape} ${quant} KV ${kvCacheType} ${threads} thread(s)...`);
          let model: LlamaCppModel | undefined;
          try {
            model = await LlamaCppModel.load({ model: path, threads, kvCacheType, contextSize, gpu: options.gpu ?? false, probeExactness: false });
            if (model.llama.gpu !== false) backend = String(model.llama.gpu);
            const verdict = await exactnessFor(model, { anchors: PROBE_ANCHORS, refresh: options.refresh, cacheFile: options.cacheFile });
            cells.push(cellOf(shape, quant, kvCacheType, threads, verdict));
          } catch (error) {
            cells.push({ shape, quant, kvCacheType, threads, error: (error as Error).message });
          } finally {
            await model?.dispose();
          }
        }
    }
  return { createdAt: new Date().toISOString(), backend, contextSize, cells: withRemedies(cells) };
}

function cellOf(shape: string, quant: string, kvCacheType: KvCacheType, threads: number, verdict: ExactnessVerdict): MatrixCell {
  return {
    shape,
    quant,
    kvCacheType,
    threads,
    exact: verdict.exact,
    exactUpTo: verdict.exactUpTo,
    widths: verdict.widths,
    anchors: verdict.anchors,
    ms: verdict.ms,
    cached: verdict.cached,
  };
}

/**
 * For every cell that is not exact, the closest exact cell with the same weights: another KV type at
 * the same thread count first (the setting users change), then another thread count, then both.
 */
export function withRemedies(cells: readonly MatrixCell[]): MatrixCell[] {
  return cells.map((cell) => {
    if (cell.exact !== false) return cell;
    const same = cells.filter((other) => other.exact === true && other.shape === cell.shape && other.quant === cell.quant);
    const kv = same.filter((other) => other.threads === cell.threads).map((other) => `KV ${other.kvCacheType}`);
    const threads = same.filter((other) => other.kvCacheType === cell.kvCacheType).map((other) => `${other.threads} thread(s)`);
    const both = same.map((other) => `KV ${other.kvCacheType} + ${other.threads} thread(s)`);
    const remedy = kv.length > 0 ? kv.join(" or ") : threads.length > 0 ? threads.join(" or ") : both.length > 0 ? both.join(" or ") : null;
    if (remedy !== null) return { ...cell, madeExactBy: remedy };
    const otherWeights = cells
      .filter((other) => other.exact === true && other.shape === cell.shape && other.kvCacheType === cell.kvCacheType && other.threads === cell.threads)
      .map((other) => other.quant);
    return { ...cell, madeExactBy: null, exactWithOtherWeights: otherWeights };
  });
}

function describeCell(cell: MatrixCell): string {
  if (cell.error !== undefined) return `error: ${cell.error.replace(/\|/g, "\\|").split("\n")[0]}`;
  const failed = (cell.widths ?? []).filter((w) => !(w.argmaxEqual && w.bitsEqual));
  if (failed.length === 0) return "–";
  const first = failed[0];
  const kind = first.argmaxEqual ? "logit bits" : "greedy tokens";
  return `${failed.map((w) => w.width).join(", ")} (${kind} from ${first.firstDiff?.cachedTokens ?? "?"} cached)`;
}

function noRemedy(cell: MatrixCell): string {
  const others = cell.exactWithOtherWeights ?? [];
  return others.length > 0 ? `none tried; ${others.join(" or ")} weights are exact here` : "none tried";
}

/**
 * The matrix at a glance: one row per shape x weight type, one column per KV type x thread count, each
 * cell the widest exact pass ("64" = every checked width; "–" = not probed, e.g. a weight type the
 * shape cannot hold). Exact cells in bold.
 */
export function renderMatrixSummary(matrix: ExactnessMatrix): string {
  const columns: { kv: KvCacheType; threads: number }[] = [];
  for (const c of matrix.cells) if (!columns.some((x) => x.kv === c.kvCacheType && x.threads === c.threads)) columns.push({ kv: c.kvCacheType, threads: c.threads });
  const rows: { shape: string; quant: string }[] = [];
  for (const c of matrix.cells) if (!rows.some((r) => r.shape === c.shape && r.quant === c.quant)) rows.push({ shape: c.shape, quant: c.quant });
  const value = (shape: string, quant: string, kv: KvCacheType, threads: number): string => {
    const c = matrix.cells.find((x) => x.shape === shape && x.quant === quant && x.kvCacheType === kv && x.threads === threads);
    if (!c || c.error !== undefined || c.exactUpTo === undefined) return "–";
    return c.exact ? `**${c.exactUpTo}**` : String(c.exactUpTo);
  };
  return [
    `| shape | weights | ${columns.map((c) => `KV ${c.kv}, ${c.threads} thr.`).join(" | ")} |`,
    `|---|---|${columns.map(() => "---:").join("|")}|`,
    ...rows
      .filter((r) => columns.some((c) => value(r.shape, r.quant, c.kv, c.threads) !== "–"))
      .map((r) => `| ${r.shape} | ${r.quant} | ${columns.map((c) => value(r.shape, r.quant, c.kv, c.threads)).join(" | ")} |`),
    "",
  ].join("\n");
}

export function renderMatrixMarkdown(matrix: ExactnessMatrix, command?: string): string {
  const rows = matrix.cells.map(
    (cell) =>
      `| ${cell.shape} | ${cell.quant} | ${cell.kvCacheType} | ${cell.threads} | ${cell.error !== undefined ? "?" : cell.exact ? "**yes**" : "no"} | ${cell.exactUpTo ?? "–"} | ${describeCell(cell)} | ${cell.exact === false ? (cell.madeExactBy ?? noRemedy(cell)) : "–"} |`,
  );
  return [
    "# Exactness matrix",
    "",
    `Backend: ${matrix.backend}; context ${matrix.contextSize}; each cell compares runs of 64 tokens in passes of width 2, 3, 4, 8, 16, 32 and 64 with one-token passes, after 272 and 1,040 cached tokens (src/backends/exactness.ts). ${matrix.createdAt}.`,
    ...(command ? ["", "```sh", command, "```"] : []),
    "",
    "Widest exact pass per shape x weights (columns: KV cache type x threads; bold: exact at every checked width, 2, 3, 4, 8, 16, 32 and 64; shapes and weight types the writer cannot combine are left out):",
    "",
    renderMatrixSummary(matrix),
    "Every cell:",
    "",
    "| shape | weights | KV cache | threads | exact | exact up to | widths that differ (first difference) | exact with the same weights |",
    "|---|---|---|---:|---|---:|---|---|",
    ...rows,
    "",
  ].join("\n");
}

/** Writes exactness.json and exactness.md into `dir` (each via a temporary file and a rename). */
export async function writeMatrix(dir: string, matrix: ExactnessMatrix, command?: string): Promise<{ json: string; markdown: string }> {
  await mkdir(dir, { recursive: true });
  const json = join(dir, "exactness.json");
  const markdown = join(dir, "exactness.md");
  for (const [file, content] of [
    [json, `${JSON.stringify(matrix, null, 2)}\n`],
    [markdown, renderMatrixMarkdown(matrix, command)],
  ] as const) {
    const tmp = `${file}.tmp-${process.pid}`;
    await writeFile(tmp, content);
    await rename(tmp, file);
  }
  return { json, markdown };
}
