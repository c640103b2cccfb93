/** Writes a `llma bench` report: JSON, Markdown table, SVG chart of the speed-ups. */
import { mkdir, rename, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import type { TopLevelSpec } from "vega-lite";
import { renderSvg } from "./charts.js";
import { formatJson } from "./report.js";
import { BENCH_METHODS, type BenchReport } from "./runner.js";

/** Bars of speed-up per method, one panel per dataset, a dashed line at 1x (greedy). */
export function benchChart(report: BenchReport): TopLevelSpec {
  const methods = [...report.methods];
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: { text: `Speed-up over greedy (${report.mode} decoding, ${basename(report.model)}, ${report.threads} threads)`, fontSize: 13 },
    data: { values: report.entries.map((e) => ({ dataset: e.dataset, method: e.method, speedup: Number(e.speedup.toFixed(3)) })) },
    facet: { column: { field: "dataset", type: "nominal", title: null, sort: report.datasets.map((d) => d.name) } },
    spec: {
      width: { step: 22 },
      height: 260,
      layer: [
        {
          mark: { type: "bar" },
          encoding: {
            x: { field: "method", type: "nominal", axis: null, sort: methods },
            y: { field: "speedup", type: "quantitative", title: "speed-up vs greedy (x)" },
            color: { field: "method", type: "nominal", sort: methods, legend: { title: "method", orient: "bottom" } },
          },
        },
        {
          mark: { type: "text", dy: -6, fontSize: 9 },
          encoding: {
            x: { field: "method", type: "nominal", sort: methods },
            y: { field: "speedup", type: "quantitative" },
            text: { field: "speedup", type: "quantitative", format: ".2f" },
          },
        },
        { mark: { type: "rule", strokeDash: [4, 3], color: "#666" }, encoding: { y: { datum: 1 } } },
      ],
    },
  } as TopLevelSpec;
}

function fixed(value: number | null, digits: number): string {
  return value === null || !Number.isFinite(value) ? "–" : value.toFixed(digits);
}

export function benchMarkdown(report: BenchReport, command?: string): string {
  const lines: string[] = [];
  lines.push(`# llma bench: ${report.mode} decoding`);
  lines.push("");
  lines.push(`Model \`${basename(report.model)}\`, ${report.threads} threads, ${report.createdAt}.`);
  if (command) lines.push(`Command: \`${command}\``);
  lines.push("");
  lines.push("| dataset | method | samples | tokens | ms/token | tokens/step | forward passes | acceptance | speed-up vs greedy | identical | % of oracle | proposer time |");
  lines.push("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const e of report.entries) {
    lines.push(
      `| ${e.dataset} | ${e.method} | ${e.samples} | ${e.tokens} | ${fixed(e.msPerToken, 1)} | ${fixed(e.tokensPerStep, 2)} | ${e.forwardPasses} | ${e.acceptanceRate === null ? "–" : `${(e.acceptanceRate * 100).toFixed(0)}%`} | **${fixed(e.speedup, 2)}x** | ${e.identical}/${e.samples} | ${e.oracleFraction === null ? "–" : `${(e.oracleFraction * 100).toFixed(0)}%`} | ${e.proposerShare === null ? "–" : `${(e.proposerShare * 100).toFixed(2)}%`} |`,
    );
  }
  lines.push("");
  if (report.mode === "forced") {
    lines.push("Oracle bound (a draft-length policy that knew every acceptance in advance, suffix matcher, this machine's cost curve):");
    lines.push("");
    for (const d of report.datasets) lines.push(`- ${d.name}: ${fixed(d.oracleSpeedup, 2)}x`);
    lines.push("");
  }
  lines.push("Cost curve measured on this machine (one forward pass over T tokens):");
  lines.push("");
  lines.push(`| T | ${report.costCurve.map((p) => p.tokens).join(" | ")} |`);
  lines.push(`|---|${report.costCurve.map(() => "---:").join("|")}|`);
  lines.push(`| ms | ${report.costCurve.map((p) => p.ms.toFixed(1)).join(" | ")} |`);
  lines.push(`| x T=1 | ${report.costCurve.map((p) => (p.ms / report.costCurve[0].ms).toFixed(2)).join(" | ")} |`);
  lines.push("");
  lines.push("Methods:");
  lines.push("");
  for (const m of BENCH_METHODS.filter((m) => report.methods.includes(m.name))) lines.push(`- \`${m.name}\`: ${m.description}`);
  lines.push("");
  lines.push(
    report.mode === "forced"
      ? "Forced decoding (the paper's target-oriented decoding): every method emits the dataset's target output; acceptance is decided against it, and every forward pass runs on the real model. Speed-up = greedy's decode time / the method's, same samples, same run (the prompt pass, shared by all, excluded)."
      : "Free decoding: each method's own greedy output; `identical` counts samples whose output equals plain greedy's token for token.",
  );
  lines.push("");
  lines.push("Proposer time: the share of decode time spent finding drafts (suffix matching, the policy's choice, its feedback), i.e. the method's own overhead on top of the forward passes.");
  return `${lines.join("\n")}\n`;
}

async function writeAtomic(path: string, content: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, content);
  await rename(tmp, path);
}

/** Writes bench.json, bench.md and bench.svg into `dir`; returns their paths. */
export async function writeBenchReport(dir: string, report: BenchReport, command?: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files = [join(dir, "bench.json"), join(dir, "bench.md"), join(dir, "bench.svg")];
  await writeAtomic(files[0], `${formatJson(report)}\n`);
  await writeAtomic(files[1], benchMarkdown(report, command));
  await writeAtomic(files[2], await renderSvg(benchChart(report)));
  return files;
}
