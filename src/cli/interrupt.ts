/** Ctrl-C for long commands: stop the work in hand, say so, exit 130 (128 + SIGINT, as shells expect). */

/** Thrown when the user interrupted a command; main() prints it and exits 130. */
export class Interrupted extends Error {
  readonly exitCode = 130;
}

export interface InterruptHandle {
  /** Aborted by the first SIGINT. */
  readonly signal: AbortSignal;
  /** Removes the handler (Ctrl-C then does what it did before). */
  dispose(): void;
}

/**
 * Catches SIGINT while a command works: the first one aborts `signal` (the work stops at its next
 * check, a fraction of a second), a second one exits at once with 130.
 */
export function catchInterrupt(): InterruptHandle {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort(new Interrupted("interrupted (SIGINT)"));
  };
  process.on("SIGINT", onSigint);
  return { signal: controller.signal, dispose: () => process.off("SIGINT", onSigint) };
}
