import { Command } from "commander";
import { openStore } from "../store/open.js";

interface CacheCliOptions {
  store: string;
  tenant?: string;
  json?: boolean;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function cacheCommand(): Command {
  const stats = new Command("stats")
    .description("entries of the answer cache, per tenant")
    .requiredOption("--store <db>", "store: a SQLite file or a postgres:// URL")
    .option("--tenant <name>", "only this tenant")
    .option("--json", "print one JSON document on stdout")
    .action(async (options: CacheCliOptions) => {
      const store = await openStore(options.store, { create: false });
      try {
        const s = await store.answers.stats(options.tenant);
        const output = { store: store.location, entries: s.entries, tenants: s.tenants, oldest: iso(s.oldest), newest: iso(s.newest) };
        if (options.json) process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
        else {
          process.stdout.write(`${s.entries} cached answer(s) in ${store.location}${options.tenant !== undefined ? ` for tenant ${options.tenant}` : ""}\n`);
          for (const t of s.tenants) process.stdout.write(`  ${t.tenant}: ${t.entries} entries, ${t.hits} hits\n`);
          if (s.entries > 0) process.stdout.write(`  last used between ${output.oldest} and ${output.newest}\n`);
        }
      } finally {
        await store.close();
      }
    });
  const clear = new Command("clear")
    .description("remove every cached answer (or one tenant's)")
    .requiredOption("--store <db>", "store: a SQLite file or a postgres:// URL")
    .option("--tenant <name>", "only this tenant's answers")
    .option("--json", "print one JSON document on stdout")
    .action(async (options: CacheCliOptions) => {
      const store = await openStore(options.store, { create: false });
      try {
        const removed = await store.answers.clear(options.tenant);
        if (options.json) process.stdout.write(`${JSON.stringify({ store: store.location, tenant: options.tenant ?? null, removed })}\n`);
        else process.stdout.write(`removed ${removed} cached answer(s)${options.tenant !== undefined ? ` of tenant ${options.tenant}` : ""} from ${store.location}\n`);
      } finally {
        await store.close();
      }
    });
  const command = new Command("cache")
    .description("inspect or clear the answer cache of a store (answers `llma rag` and `llma serve --store` saved)")
    .addCommand(stats)
    .addCommand(clear)
    .addHelpText(
      "after",
      `
Example:
  llma cache stats --store rag.db
  llma cache clear --store rag.db --tenant alice`,
    );
  for (const sub of command.commands) sub.exitOverride();
  return command;
}
