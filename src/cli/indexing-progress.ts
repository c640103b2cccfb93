import cliProgress from "cli-progress";
import type { IndexingProgress } from "../core/reference-indexing.js";

/** References shorter than this index in well under a second: no progress shown. */
export const PROGRESS_MIN_CHARS = 256 * 1024;

export interface IndexingProgressDisplay {
  /** For generate()'s onIndexProgress; undefined when nothing is shown. */
  readonly onProgress?: (progress: IndexingProgress) => void;
  /** Whether indexing has finished (the last "indexing" report reached its total). */
  readonly finished: boolean;
  /** Ends the display (the bar, or the closing line). */
  stop(): void;
}

/**
 * Shows tokenizing and indexing of large references on `stream` (stderr): a progress bar on a
 * terminal, otherwise one line when it starts and one when it ends (a log file gets no bar frames).
 */
export function indexingProgressDisplay(stream: NodeJS.WriteStream, totalChars: number, enabled: boolean): IndexingProgressDisplay {
  let finished = false;
  if (!enabled || totalChars < PROGRESS_MIN_CHARS) {
    return {
      onProgress: (progress) => void (finished = progress.phase === "indexing" && progress.done === progress.total),
      get finished() {
        return finished;
      },
      stop: () => {},
    };
  }
  const started = performance.now();
  const megabytes = (totalChars / 1e6).toFixed(1);
  const bar = stream.isTTY
    ? new cliProgress.SingleBar(
        { stream, format: "references: {phase} [{bar}] {percentage}% | {value}/{total} {unit} | ETA {eta}s | Ctrl-C stops", hideCursor: true, clearOnComplete: false },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  let phase: IndexingProgress["phase"] | undefined;
  let tokens = 0;
  if (!bar) stream.write(`llma: tokenizing and indexing ${megabytes} MB of references (Ctrl-C stops)...\n`);
  return {
    onProgress: (progress) => {
      if (progress.phase === "indexing") tokens = progress.total;
      finished = progress.phase === "indexing" && progress.done === progress.total;
      if (!bar) return;
      const unit = progress.phase === "tokenizing" ? "characters" : "tokens";
      if (progress.phase !== phase) {
        if (phase === undefined) bar.start(progress.total, progress.done, { phase: progress.phase, unit });
        else {
          bar.setTotal(progress.total);
          bar.update(progress.done, { phase: progress.phase, unit });
        }
        phase = progress.phase;
      } else bar.update(progress.done);
    },
    get finished() {
      return finished;
    },
    stop: () => {
      bar?.stop();
      if (finished) stream.write(`llma: indexed ${megabytes} MB of references (${tokens} tokens) in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    },
  };
}
