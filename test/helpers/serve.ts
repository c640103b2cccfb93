/**
 * `llma serve` as a child process for tests: started from the built CLI, on the port its arguments
 * give (usually 0: a free one), resolved once it prints its "listening on URL" line, or rejected with
 * what it printed when it exits first or does not start in time. Every started server is killed by
 * `killServers()` (call it in afterEach).
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";

export interface ServedProcess {
  readonly child: ChildProcessWithoutNullStreams;
  /** The URL it listens on, e.g. http://127.0.0.1:41234. */
  readonly url: string;
  /** Everything it printed on stderr so far. */
  readonly stderr: () => string;
  /** Its exit code, once it exits. */
  readonly exited: Promise<number | null>;
}

/** Thrown when the server exits before it listens: its exit code and what it printed. */
export class ServeExitError extends Error {
  constructor(
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(`llma serve exited with ${code}:\n${stderr}`);
  }
}

const started: ChildProcessWithoutNullStreams[] = [];

/** `node bin/llma.js <args>` (args start with "serve"), resolved when it listens. */
export async function startServe(args: readonly string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<ServedProcess> {
  const child = spawn("node", ["bin/llma.js", ...args], { env: { ...process.env, ...options.env } });
  started.push(child);
  let stderr = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`llma serve did not start:\n${stderr}`)), options.timeoutMs ?? 120_000);
    child.stderr.on("data", (data: Buffer) => {
      stderr += data.toString();
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new ServeExitError(code, stderr));
    });
  });
  return { child, url, stderr: () => stderr, exited };
}

/** Stops every server startServe started that is still running (SIGKILL, or SIGTERM to let it drain) and waits for it to exit. */
export async function killServers(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  const running = started.splice(0).filter((child) => child.exitCode === null && child.signalCode === null);
  await Promise.all(
    running.map((child) => {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill(signal);
      return exited;
    }),
  );
}
