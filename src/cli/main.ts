import { Command, CommanderError } from "commander";
import { benchCommand } from "./bench.js";
import { cacheCommand } from "./cache.js";
import { checkCommand } from "./check.js";
import { demoCommand } from "./demo.js";
import { exactnessCommand } from "./exactness.js";
import { fuzzCommand } from "./fuzz.js";
import { generateCommand } from "./generate.js";
import { indexCommand } from "./index.js";
import { Interrupted } from "./interrupt.js";
import { makeModelCommand } from "./make-model.js";
import { ragCommand } from "./rag.js";
import { serveCommand } from "./serve.js";
import { simulateCommand } from "./simulate.js";

export function buildProgram(): Command {
  const program = new Command("llma")
    .description("Lossless LLM inference acceleration with references (LLMA): copy spans, verify in one pass, identical to greedy.")
    .version("0.1.0")
    .showHelpAfterError()
    .exitOverride();
  program.addCommand(generateCommand());
  program.addCommand(makeModelCommand());
  program.addCommand(demoCommand());
  program.addCommand(benchCommand());
  program.addCommand(simulateCommand());
  program.addCommand(serveCommand());
  program.addCommand(indexCommand());
  program.addCommand(ragCommand());
  program.addCommand(cacheCommand());
  program.addCommand(checkCommand());
  program.addCommand(exactnessCommand());
  program.addCommand(fuzzCommand(), { hidden: true }); // a developer check: `npm run fuzz`
  for (const command of program.commands) command.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode; // commander already printed the message
    if (error instanceof Interrupted) {
      process.stderr.write(`llma: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`llma: error: ${(error as Error).message}\n`);
    return 1;
  }
}
