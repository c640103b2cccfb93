/**
 * How the server's stores (answer cache, document store) are doing: failures counted per operation
 * for /metrics (llma_store_errors_total), and one warning when a store starts failing and one line when
 * it works again, not one per request while a database is down.
 */
export type StoreOperation = "cache_lookup" | "cache_write" | "retrieve";

const OPERATIONS: readonly StoreOperation[] = ["cache_lookup", "cache_write", "retrieve"];

export class StoreHealth {
  private readonly errors = new Map<StoreOperation, number>(OPERATIONS.map((operation) => [operation, 0]));
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

  errorCount(operation: StoreOperation): number {
    return this.errors.get(operation) ?? 0;
  }

  /** The counter in Prometheus' text format. */
  render(): string {
    const lines = ["# HELP llma_store_errors_total Store operations that failed (the request went on without the store).", "# TYPE llma_store_errors_total counter"];
    for (const [operation, count] of this.errors) lines.push(`llma_store_errors_total{operation="${operation}"} ${count}`);
    return `${lines.join("\n")}\n`;
  }
}
