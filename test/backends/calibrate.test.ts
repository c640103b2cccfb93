/**
 * The calibration's estimate from its timings (curveFromSamples), on simulated machines whose true
 * pass costs are known: preemption on a shared machine (noise that grows with a pass's duration) and
 * a load that comes and goes must not bend the curve's shape, and a noisy calibration must say so.
 */
import { describe, expect, it } from "vitest";
import { CALIBRATION_POINTS, curveFromSamples, disagreementOf, type PairedSamples } from "../../src/backends/calibrate.js";
import { mulberry32 } from "../helpers/random.js";

/** The tiny shape's quiet curve, roughly: 3 ms for one token, +0.4 ms per extra token. */
const trueCost = (tokens: number) => 3 + 0.4 * (tokens - 1);

/** Timings as measureCostCurve takes them: per round, each width after a one-token pass. */
function calibrate(noisy: (ms: number, round: number) => number, repeats = 7): PairedSamples {
  const samples: PairedSamples = { ones: [], wide: CALIBRATION_POINTS.map(() => []), pairedOnes: CALIBRATION_POINTS.map(() => []) };
  for (let r = 0; r < repeats; r++) {
    for (let i = 0; i < CALIBRATION_POINTS.length; i++) {
      const one = noisy(trueCost(1), r);
      samples.ones.push(one);
      if (CALIBRATION_POINTS[i] === 1) continue;
      const ms = noisy(trueCost(CALIBRATION_POINTS[i]), r);
      samples.wide[i].push(ms);
      samples.pairedOnes[i].push(one);
    }
  }
  return samples;
}

/** The largest factor by which the measured curve's ratio to T=1 exceeds the true one (> 1: too steep). */
function steepness(points: { tokens: number; ms: number }[]): number {
  const one = points.find((p) => p.tokens === 1)!.ms;
  return Math.max(...points.map((p) => p.ms / one / (trueCost(p.tokens) / trueCost(1))));
}

/** The per-width medians the calibration used to take, for comparison. */
function medianCurve(samples: PairedSamples): { tokens: number; ms: number }[] {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return CALIBRATION_POINTS.map((tokens, i) => ({ tokens, ms: tokens === 1 ? median(samples.ones) : median(samples.wide[i]) }));
}

describe("curveFromSamples", () => {
  it("a quiet machine: the true curve, steady", () => {
    const random = mulberry32(1);
    const samples = calibrate((ms) => ms * (1 + 0.05 * random()));
    const curve = curveFromSamples(CALIBRATION_POINTS, samples);
    expect(steepness(curve)).toBeLessThan(1.1);
    expect(steepness(curve)).toBeGreaterThan(0.9);
    expect(curve.find((p) => p.tokens === 1)!.ms).toBeCloseTo(3, 0);
    expect(disagreementOf(CALIBRATION_POINTS, samples)).toBeLessThan(1.5); // reproducible: cached
  });

  it("preemption that hits long passes more than short ones does not make the curve steeper (per-width medians did)", () => {
    // Another process on the cores: a pass is preempted with a probability that grows with its
    // duration, and then costs a time slice or more (30-270 ms, as measured beside two `yes`).
    const random = mulberry32(7);
    // Three attempts' rounds pooled, as measureCostCurve does when each attempt is unsteady.
    const preempted = (ms: number) => (random() < Math.min(0.7, ms / 6) ? ms + 30 + 240 * random() : ms * (1 + 0.05 * random()));
    const samples = calibrate(preempted, 15);
    const curve = curveFromSamples(CALIBRATION_POINTS, samples);
    expect(steepness(medianCurve(samples))).toBeGreaterThan(3); // what per-width medians made of it
    expect(steepness(curve)).toBeLessThan(1.5);
  });

  it("says when a calibration's shape is not reproducible, so that it is not cached", () => {
    // Half the passes preempted at every width: 5 rounds cannot tell what a pass costs.
    const random = mulberry32(11);
    const samples = calibrate((ms) => (random() < 0.5 ? ms + 30 + 240 * random() : ms), 5);
    expect(disagreementOf(CALIBRATION_POINTS, samples)).toBeGreaterThan(1.5);
  });

  it("a load that comes and goes over rounds does not bend the shape", () => {
    // Rounds 0-2 run on a machine 3x slower than rounds 3-6: every width sees both.
    const random = mulberry32(3);
    const curve = curveFromSamples(CALIBRATION_POINTS, calibrate((ms, round) => ms * (round < 3 ? 3 : 1) * (1 + 0.05 * random())));
    expect(steepness(curve)).toBeLessThan(1.2);
    expect(steepness(curve)).toBeGreaterThan(0.8);
  });

  it("a longer pass is never priced below a shorter one", () => {
    const random = mulberry32(5);
    const curve = curveFromSamples(CALIBRATION_POINTS, calibrate((ms) => ms * (0.5 + random())));
    for (let i = 1; i < curve.length; i++) expect(curve[i].ms).toBeGreaterThanOrEqual(curve[i - 1].ms);
  });
});
