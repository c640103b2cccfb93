import { Command } from "commander";
import { QUANTS, SHAPES, writeGgufModel, type Quant } from "../backends/gguf-writer.js";
import { integerOption, log, resolveQuant } from "./options.js";

export function makeModelCommand(): Command {
  return new Command("make-model")
    .description(
      "Write a GGUF model with seeded random weights and a real vocabulary, for tests and benchmarks (timing depends on shape, not on weight values): LLaMA-2, Llama-3, Qwen2.5, Qwen3 and the Qwen3.5 hybrid (qwen35) shapes.",
    )
    .requiredOption("--shape <shape>", `model shape: ${Object.keys(SHAPES).join(", ")}`)
    .option("--quant <quant>", `weight type: ${QUANTS.join(", ")}, any case (the K-quant recipes need rows that are multiples of 256: not tiny or smollm2-135m)`, (value: string) => resolveQuant(value), "Q8_0")
    .requiredOption("--out <file>", "output GGUF path")
    .option("--seed <n>", "random seed", integerOption("--seed", 0, 2 ** 31 - 1), 1)
    .addHelpText("after", "\nExample:\n  llma make-model --shape tinyllama-1.1b --quant Q8_0 --out tinyllama-1.1b-q8_0.gguf")
    .action(async (options: { shape: string; quant: Quant; out: string; seed: number }) => {
      const started = performance.now();
      let lastPercent = -1;
      await writeGgufModel({
        shape: options.shape,
        quant: options.quant,
        out: options.out,
        seed: options.seed,
        onProgress: (fraction) => {
          const percent = Math.floor(fraction * 100);
          if (percent !== lastPercent && percent % 10 === 0) log(`writing ${options.out}: ${percent}%`);
          lastPercent = percent;
        },
      });
      log(`wrote ${options.out} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    });
}
