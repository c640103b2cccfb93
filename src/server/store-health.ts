/**
 * How the server's stores (answer cache, document store) are doing: failures counted per operation
 * for /metrics (llma_store_errors_total), answer-cache lookups that found references or none
 * (llma_cache_lookups_total: on replicas sharing a store, hits show answers other replicas wrote), and one warning when a store starts failing and one line when
 * it works again, not one per request while a database is down.
 */
export type StoreOperation = "cache_lookup" | "cache_write" | "retrieve";

const OPERATIONS: readonly StoreOperation[] = ["cache_lookup", "cache_write", "retrieve"];

export class StoreHealth {
  private readonly errors = new Map<StoreOperation, number>(OPERATIONS.map((operation) => [operation, 0]));
  private readonly lookups = { hit: 0, miss: 0 };
  private failing = false;

  constructor(private readonly warn: (line: string) => void) {}

  /** A store operation failed (the request goes on without it). */
  failed(operation: StoreOperation, error: unknown): void {
    this.errors.set(operation, (this.errors.get(operation) ?? 0) + 1);
    if (!this.failing) this.warn(`store ${operation.replace("_", " ")} failed, serving without it until it works again: ${(error as Error).message}`);
    this.failing = true;
  }

  /** A store operation worked: after failures, say the store is back. */
  succeeded(): void {
    if (this.failing) this.warn("store works again: requests use it from now on");
    this.failing = false;
  }

  /** An answer-cache lookup that worked: a hit when it found cached answers to copy from. */
  looked(found: number): void {
    this.lookups[found > 0 ? "hit" : "miss"]++;
    this.succeeded();
  }

  errorCount(operation: StoreOperation): number {
    return this.errors.get(operation) ?? 0;
  }

  /** The counter in Prometheus' text format. */
  render(): string {
    const lines = ["# HELP llma_store_errors_total Store operations that failed (the request went on without the store).", "# TYPE llma_store_errors_total counter"];
    for (const [operation, count] of this.errors) lines.push(`llma_store_errors_total{operation="${operation}"} ${count}`);
    lines.push("# HELP llma_cache_lookups_total Answer-cache lookups by result (hit: cached answers to similar queries became references).", "# TYPE llma_cache_lookups_total counter");
    for (const [result, count] of Object.entries(this.lookups)) lines.push(`llma_cache_lookups_total{result="${result}"} ${count}`);
    return `${lines.join("\n")}\n`;
  }
}
