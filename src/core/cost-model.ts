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
  /** Online correction per measured point: multiplicative, smoothed. */
  private readonly scale: number[];

  constructor(points: readonly CostPoint[]) {
    const sorted = [...points].filter((p) => p.tokens >= 1 && p.ms > 0).sort((a, b) => a.tokens - b.tokens);
    if (sorted.length === 0 || sorted[0].tokens !== 1) throw new Error("a cost curve needs a measured point at 1 token");
    this.points = sorted;
    this.scale = sorted.map(() => 1);
  }

  /** A linear curve a + b*T (e.g. from a known machine), for tests and simulations. */
  static linear(fixedMs: number, perTokenMs: number, maxTokens = 64): CostCurve {
    const points: CostPoint[] = [];
    for (let t = 1; t <= maxTokens; t *= 2) points.push({ tokens: t, ms: fixedMs + perTokenMs * t });
    return new CostCurve(points);
  }

  get measured(): readonly CostPoint[] {
    return this.points.map((p, i) => ({ tokens: p.tokens, ms: p.ms * this.scale[i] }));
  }

  /** Cost of one pass over `tokens` tokens: piecewise linear between points, extrapolated past the last. */
  cost(tokens: number): number {
    const pts = this.points;
    let i = 0;
    while (i < pts.length - 1 && pts[i + 1].tokens < tokens) i++;
    if (i === pts.length - 1) {
      if (pts.length === 1) return pts[0].ms * this.scale[0];
      i = pts.length - 2; // extrapolate along the last segment
    }
    const a = pts[i];
    const b = pts[i + 1];
    const ya = a.ms * this.scale[i];
    const yb = b.ms * this.scale[i + 1];
    return Math.max(ya * 0.5, ya + ((yb - ya) * (tokens - a.tokens)) / (b.tokens - a.tokens));
  }

  /** Folds a measured step time into the curve (the nearest point's scale moves toward it). */
  observe(tokens: number, ms: number): void {
    if (!(ms > 0)) return;
    let nearest = 0;
    for (let i = 1; i < this.points.length; i++)
      if (Math.abs(this.points[i].tokens - tokens) < Math.abs(this.points[nearest].tokens - tokens)) nearest = i;
    const predicted = this.cost(tokens);
    const ratio = Math.min(4, Math.max(0.25, ms / predicted));
    this.scale[nearest] *= 1 + 0.05 * (ratio - 1);
  }
}
