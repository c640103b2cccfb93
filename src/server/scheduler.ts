/**
 * Slots and a bounded FIFO queue: at most `slots` requests generate at once (one model sequence each);
 * up to `queueLimit` more wait in arrival order; beyond that a request is refused at once (429).
 */

export class QueueFullError extends Error {
  constructor(
    readonly slots: number,
    readonly queueLimit: number,
  ) {
    super(`the server is busy: all ${slots} slots are generating and the queue of ${queueLimit} waiting requests is full; retry later`);
    this.name = "QueueFullError";
  }
}

export class SchedulerClosedError extends Error {
  constructor() {
    super("the server is shutting down");
    this.name = "SchedulerClosedError";
  }
}

export interface Slot {
  /** Gives the slot back (idempotent). */
  release(): void;
}

interface Waiter {
  resolve(slot: Slot): void;
  reject(error: Error): void;
}

export class Scheduler {
  private activeCount = 0;
  private readonly waiting: Waiter[] = [];
  private closedWith?: Error;

  constructor(
    readonly slots: number,
    readonly queueLimit: number,
  ) {
    if (!Number.isInteger(slots) || slots < 1) throw new RangeError(`slots must be an integer >= 1, got ${slots}`);
    if (!Number.isInteger(queueLimit) || queueLimit < 0) throw new RangeError(`queueLimit must be an integer >= 0, got ${queueLimit}`);
  }

  /** Requests generating now. */
  get active(): number {
    return this.activeCount;
  }

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * A slot now, or after the requests queued before this one. Rejects with QueueFullError when the
   * queue is full, with the signal's reason when it aborts while waiting (the request leaves the queue).
   */
  acquire(signal?: AbortSignal): Promise<Slot> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (this.activeCount < this.slots && this.waiting.length === 0) return Promise.resolve(this.grant());
    if (this.waiting.length >= this.queueLimit) return Promise.reject(new QueueFullError(this.slots, this.queueLimit));
    return new Promise<Slot>((resolve, reject) => {
      const onAbort = () => {
        const at = this.waiting.indexOf(waiter);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(abortReason(signal!));
      };
      const waiter: Waiter = {
        resolve: (slot) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(slot);
        },
        reject: (error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  /** Refuses new requests and every waiting one with `error`; generating requests keep their slots. */
  close(error: Error = new SchedulerClosedError()): void {
    this.closedWith = error;
    for (const waiter of this.waiting.splice(0)) waiter.reject(error);
  }

  private grant(): Slot {
    this.activeCount++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.activeCount--;
        const next = this.waiting.shift();
        if (next) next.resolve(this.grant());
      },
    };
  }
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error("aborted");
}
