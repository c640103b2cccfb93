/** Writes a `llma bench` report: JSON, Markdown table, SVG chart of the speed-ups. */
import { mkdir, rename, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import type { TopLevelSpec } from "vega-lite";
import { renderSvg } from "./charts.js";
import { formatJson } from "./report.js";
import { describeMethod, fixedK, type BenchReport, type Spread } from "./runner.js";

/** Bars of speed-up per method (vs native when it ran, else vs greedy), one panel per set, a dashed line at 1x. */
export function benchChart(report: BenchReport): TopLevelSpec {
  const methods = [...report.methods];
  const baseline = methods.includes("native") ? "native" : "greedy";
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: {
      text: `Speed-up over ${baseline} (median per sample; ${report.mode} decoding, ${basename(report.model)}, ${report.threads} threads)`,
      fontSize: 13,
    },
    data: {
      values: report.entries.map((e) => ({
        dataset: e.dataset,
        method: e.method,
        speedup: Number(((baseline === "native" ? e.vsNative?.median : e.speedupPerSample.median) ?? 0).toFixed(3)),
      })),
    },
    facet: { column: { field: "dataset", type: "nominal", title: null, sort: report.datasets.map((d) => d.name) } },
    spec: {
      width: { step: 22 },
      height: 260,
      layer: [
        {
          mark: { type: "bar" },
          encoding: {
            x: { field: "method", type: "nominal", axis: null, sort: methods },
            y: { field: "speedup", type: "quantitative", title: `speed-up vs ${baseline} (x)` },
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

function ratio(value: Spread | null): string {
  return value === null ? "–" : `**${fixed(value.median, 2)}x** (${fixed(value.q1, 2)}-${fixed(value.q3, 2)})`;
}

export function benchMarkdown(report: BenchReport, command?: string): string {
  const lines: string[] = [];
  const hasNative = report.methods.includes("native");
  const hasDefault = report.methods.includes("native-default");
  lines.push(`# llma bench: ${report.mode} decoding`);
  lines.push("");
  lines.push(`Model \`${basename(report.model)}\`, ${report.threads} threads, ${report.createdAt}.`);
  if (command) lines.push(`Command: \`${command}\``);
  lines.push("");
  lines.push(
    "Speed-ups are medians over the samples of per-sample ratios (decode time of the baseline / the method's, same sample, same run), with the quartiles in brackets; a sample that hit a busy moment of the machine moves the median little.",
  );
  lines.push("");
  const header = ["set", "method", "samples", "tokens", "ms/token", "tokens/step", "forward passes", "acceptance"];
  if (hasNative) header.push("vs native");
  if (hasDefault) header.push("vs native-default");
  header.push("vs llma greedy", "identical", "% of oracle", "proposer time");
  lines.push(`| ${header.join(" | ")} |`);
  lines.push(`|---|---|${header.slice(2).map(() => "---:").join("|")}|`);
  for (const e of report.entries) {
    const cells = [
      e.dataset,
      e.method,
      String(e.samples),
      String(e.tokens),
      fixed(e.msPerToken, 1),
      fixed(e.tokensPerStep, 2),
      String(e.forwardPasses),
      e.acceptanceRate === null ? "–" : `${(e.acceptanceRate * 100).toFixed(0)}%`,
    ];
    if (hasNative) cells.push(ratio(e.vsNative));
    if (hasDefault) cells.push(ratio(e.vsNativeDefault));
    cells.push(
      ratio(e.speedupPerSample),
      `${e.identical}/${e.samples}`,
      e.oracleFraction === null ? "–" : `${(e.oracleFraction * 100).toFixed(0)}%`,
      e.proposerShare === null ? "–" : `${(e.proposerShare * 100).toFixed(2)}%`,
    );
    lines.push(`| ${cells.join(" | ")} |`);
  }
  lines.push("");
  if (report.mode === "forced") {
    lines.push(
      "Oracle bound per set (a draft-length policy that knew every acceptance in advance, suffix matcher; priced with the pass times measured in this run on that set; median over samples). *% of oracle* is the median over samples of the method's speed-up over llma greedy divided by the oracle's on that sample:",
    );
    lines.push("");
    for (const d of report.datasets) lines.push(`- ${d.name}: ${fixed(d.oracleSpeedup, 2)}x`);
    lines.push("");
  }
  const fixedKs = report.methods.filter((m) => fixedK(m) !== undefined);
  if (fixedKs.length > 0 && report.methods.includes("llma")) {
    lines.push("llma's default policy against the best fixed k on each set (median per-sample speed-ups vs llma greedy, this run):");
    lines.push("");
    for (const d of report.datasets) {
      const of = (method: string) => report.entries.find((e) => e.dataset === d.name && e.method === method)?.speedupPerSample.median;
      const best = fixedKs.map((k) => ({ k, speedup: of(k) ?? 0 })).sort((a, b) => b.speedup - a.speedup)[0];
      const auto = of("llma");
      if (auto !== undefined && best.speedup > 0)
        lines.push(`- ${d.name}: llma ${fixed(auto, 2)}x, best fixed ${best.k} ${fixed(best.speedup, 2)}x: **${((auto / best.speedup) * 100).toFixed(0)}%**`);
    }
    lines.push("");
  }
  const curves = report.datasets.filter((d) => d.measuredCurve?.length);
  lines.push("Forward-pass cost (one pass over T tokens, ms): the calibration (the policy's prior) and what passes cost in this run, per set:");
  lines.push("");
  lines.push(`| T | ${report.costCurve.map((p) => p.tokens).join(" | ")} |`);
  lines.push(`|---|${report.costCurve.map(() => "---:").join("|")}|`);
  lines.push(`| calibration | ${report.costCurve.map((p) => p.ms.toFixed(1)).join(" | ")} |`);
  lines.push(`| calibration, x T=1 | ${report.costCurve.map((p) => (p.ms / report.costCurve[0].ms).toFixed(2)).join(" | ")} |`);
  for (const d of curves) {
    lines.push(`| ${d.name} (${d.measuredPasses} passes) | ${d.measuredCurve.map((p) => p.ms.toFixed(1)).join(" | ")} |`);
    lines.push(`| ${d.name}, x T=1 | ${d.measuredCurve.map((p) => (p.ms / d.measuredCurve[0].ms).toFixed(2)).join(" | ")} |`);
  }
  lines.push("");
  lines.push("Methods:");
  lines.push("");
  for (const method of report.methods)
    lines.push(`- \`${method}\`: ${describeMethod(method) ?? "?"}${report.nativeSettings?.[method] ? ` (here: ${report.nativeSettings[method]})` : ""}`);
  lines.push("");
  lines.push(
    report.mode === "forced"
      ? "Forced decoding (the paper's target-oriented decoding): every method emits the dataset's target output; acceptance is decided against it, and every forward pass runs on the real model. The prompt pass, shared by all, is excluded."
      : "Free decoding: each method's own greedy output; `identical` counts samples whose output equals llma greedy's token for token.",
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
