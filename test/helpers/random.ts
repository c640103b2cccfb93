export { mulberry32 } from "../../src/core/random.js";

/** Integer in [0, bound). */
export function randomInt(random: () => number, bound: number): number {
  return Math.floor(random() * bound);
}
