/**
 * Headless SVG charts: vega-lite specs compiled to vega and rendered with the "none" renderer (no
 * canvas or browser needed; text widths are estimated). vega and vega-lite (~12 MB) are imported only
 * when a chart is rendered, so importing the bench modules (or llma) does not load them.
 */
import type { TopLevelSpec } from "vega-lite";
import type { Matcher, PointResult } from "./simulate.js";

/** Renders a vega-lite spec to an SVG document. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const [vega, { compile }] = await Promise.all([import("vega"), import("vega-lite")]);
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const MATCHER_TITLES: Record<Matcher, string> = {
  paper: "paper matcher: output n-gram, first doc occurrence, copies k-1",
  suffix: "suffix matcher: longest context suffix, copies k",
};

/**
 * Step reduction (greedy steps / LLMA steps) against k, one line per n: the shape of the paper's
 * Fig. 4/5 (which plot measured speed-up).
 */
export function kSweepChart(dataset: string, matcher: Matcher, points: readonly PointResult[]): TopLevelSpec {
  const rows = points
    .filter((point) => point.matcher === matcher)
    .map((point) => ({ n: `n = ${point.n}`, k: point.k, stepReduction: point.stepReduction, tokensPerStep: point.tokensPerStep }));
  const ks = [...new Set(rows.map((row) => row.k))].sort((a, b) => a - b);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: `${dataset}: step reduction vs k`, subtitle: MATCHER_TITLES[matcher] },
    config: { aria: false }, // no ARIA labels per point: a third of the file size
    width: 480,
    height: 280,
    data: { values: rows },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "k", type: "quantitative", scale: { type: "log", base: 2 }, axis: { values: ks, title: "k (most tokens per step)" } },
      y: { field: "stepReduction", type: "quantitative", scale: { zero: false }, title: "greedy steps / LLMA steps" },
      color: { field: "n", type: "nominal", title: "min. match n" },
    },
  };
}
