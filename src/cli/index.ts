import { Command } from "commander";
import { openStore } from "../store/open.js";
import { DEFAULT_TARGET_WORDS } from "../store/text.js";
import { integerOption, log } from "./options.js";

interface IndexCliOptions {
  store: string;
  chunkWords: number;
  json?: boolean;
}

export function indexCommand(): Command {
  return new Command("index")
    .description(
      "Add files, folders and LLMA JSONL files (every doc of every row) to a document store: sentence-aware passages, SQLite FTS5 (BM25). Re-indexing a file replaces it.",
    )
    .argument("<paths...>", "text files, folders (their .txt .md .rst .jsonl files, recursively) or JSONL files in the LLMA schema")
    .requiredOption("--store <db>", "store: a SQLite file (created when missing) or a postgres:// URL (tables created when missing)")
    .option("--chunk-words <n>", "passage size in words (whole sentences; at most max(200, n))", integerOption("--chunk-words", 10, 10_000), DEFAULT_TARGET_WORDS)
    .option("--json", "print one JSON document (the report) on stdout")
    .addHelpText(
      "after",
      `
Example:
  llma index --store rag.db bench/data/llma-rag.jsonl docs/
  llma rag --store rag.db --model tiny.gguf --query "where does real insulin come from"`,
    )
    .action(async (paths: string[], options: IndexCliOptions) => {
      const store = await openStore(options.store, { targetWords: options.chunkWords, maxWords: Math.max(200, options.chunkWords) });
      try {
        const started = performance.now();
        const report = await store.documents.addPaths(paths);
        const totals = await store.documents.stats();
        const output = { store: store.location, ...report, ms: Math.round(performance.now() - started), total: totals };
        if (options.json) process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
        else {
          for (const skipped of report.skipped) log(`skipped ${skipped.path}: ${skipped.reason}`);
          process.stdout.write(
            `indexed ${report.files} file(s) into ${store.location}: ${report.added} added, ${report.updated} updated, ${report.unchanged} unchanged, ${report.removed} removed documents (${report.passages} passages written) in ${output.ms} ms; the store holds ${totals.documents} documents, ${totals.passages} passages\n`,
          );
        }
      } finally {
        await store.close();
      }
    });
}
