/**
 * What a forward pass costs as a function of the tokens it carries. On a GPU the curve is nearly flat
 * (long drafts are almost free); on a CPU it rises steeply (a 16-token pass costs ~5x a 1-token one).
 * The policy only needs ratios, so any unit works; the backend measures milliseconds.
 */
export interface CostPoint {
  readonly tokens: number;
  readonly ms: number;
}

export class CostCurve {
  private readonly points: CostPoint[];
  /**
   * One multiplicative correction for the whole curve, smoothed over real step timings: the machine
   * may be busier or calmer than at calibration, but the curve's shape (what T tokens cost relative to
   * one) is kept. Correcting points one by one would let the cheap 1-token point drift alone while the
   * never-observed long passes keep their old price, and the policy would stop drafting for good.
   */
  private scale = 1;

  constructor(points: readonly CostPoint[]) {
    const sorted = [...points].filter((p) => p.tokens >= 1 && p.ms > 0).sort((a, b) => a.tokens - b.tokens);
    if (sorted.length === 0 || sorted[0].tokens !== 1) throw new Error("a cost curve needs a measured point at 1 token");
    this.points = sorted;
  }

  /** A linear curve a + b*T (e.g. from a known machine), for tests and simulations. */
  static linear(fixedMs: number, perTokenMs: number, maxTokens = 64): CostCurve {
    const points: CostPoint[] = [];
    for (let t = 1; t <= maxTokens; t *= 2) points.push({ tokens: t, ms: fixedMs + perTokenMs * t });
    return new CostCurve(points);
  }

  get measured(): readonly CostPoint[] {
    return this.points.map((p) => ({ tokens: p.tokens, ms: p.ms * this.scale }));
  }

  /** Cost of one pass over `tokens` tokens: piecewise linear between points, extrapolated past the last. */
  cost(tokens: number): number {
    const pts = this.points;
    if (pts.length === 1) return pts[0].ms * this.scale * tokens;
    let i = 0;
    while (i < pts.length - 2 && pts[i + 1].tokens < tokens) i++;
    const a = pts[i];
    const b = pts[i + 1];
    const y = a.ms + ((b.ms - a.ms) * (tokens - a.tokens)) / (b.tokens - a.tokens);
    return Math.max(a.ms * 0.5, y) * this.scale;
  }

  /** Folds a measured pass time into the curve's overall scale (never its shape). */
  observe(tokens: number, ms: number): void {
    if (!(ms > 0) || tokens < 1) return;
    const ratio = Math.min(4, Math.max(0.25, ms / this.cost(tokens)));
    this.scale *= 1 + 0.05 * (ratio - 1);
  }
}
