/**
 * vitest globalSetup: a real PostgreSQL server for the tests that need one, on a port of its own, in a
 * temp data dir, stopped (and removed) after the run. No mock database.
 *
 * When initdb/pg_ctl are missing, Debian's `postgresql` package is installed with apt-get (as root, or
 * with sudo). postgres refuses to run as root: as root, the server runs as the `postgres` user the
 * package creates. The URL goes to the tests in LLMA_TEST_PG_URL (an admin connection: tests create a
 * database each). When the server cannot be installed or started, LLMA_TEST_PG_ERROR says why and the
 * PostgreSQL tests fail with it (never a silent skip); the other tests run as usual.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const BIN_CANDIDATES = ["/usr/lib/postgresql"];

/** The folder holding initdb, pg_ctl and postgres (newest Debian version first, then PATH). */
function findBinaries(): string | undefined {
  for (const root of BIN_CANDIDATES) {
    if (!existsSync(root)) continue;
    const versions = readdirSync(root)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const version of versions) {
      const bin = join(root, version, "bin");
      if (["initdb", "pg_ctl", "postgres"].every((tool) => existsSync(join(bin, tool)))) return bin;
    }
  }
  const which = spawnSync("sh", ["-c", "dirname $(command -v pg_ctl)"], { encoding: "utf8" });
  const bin = which.stdout.trim();
  return which.status === 0 && bin !== "" && existsSync(join(bin, "initdb")) ? bin : undefined;
}

function install(): void {
  const root = process.getuid?.() === 0;
  const run = (args: string[]) => {
    const [command, ...rest] = root ? args : ["sudo", "-n", ...args];
    execFileSync(command, rest, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }, timeout: 600_000 });
  };
  run(["apt-get", "update"]);
  run(["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

export default async function setup(): Promise<() => Promise<void>> {
  let dir: string | undefined;
  let stop: (() => void) | undefined;
  try {
    let bin = findBinaries();
    if (!bin) {
      try {
        install();
      } catch (error) {
        throw new Error(`PostgreSQL is not installed and apt-get install postgresql failed: ${(error as { stderr?: Buffer }).stderr?.toString().trim() || (error as Error).message}`);
      }
      bin = findBinaries();
      if (!bin) throw new Error("PostgreSQL was installed with apt-get but initdb/pg_ctl/postgres are still not found under /usr/lib/postgresql/*/bin");
    }
    const root = process.getuid?.() === 0;
    // As root, the server runs as `postgres` (it refuses root); the temp dir must be theirs.
    const as = (args: string[]) => (root ? ["runuser", "-u", "postgres", "--", ...args] : args);
    dir = mkdtempSync(join(tmpdir(), "llma-pg-"));
    chmodSync(dir, 0o777);
    const data = join(dir, "data");
    const exec = (args: string[]) => {
      const [command, ...rest] = as(args);
      const result = spawnSync(command, rest, { encoding: "utf8", timeout: 120_000 });
      if (result.status !== 0) throw new Error(`${args.join(" ")} failed (${result.status}): ${(result.stderr || result.stdout || String(result.error)).trim()}`);
    };
    exec([join(bin, "initdb"), "-D", data, "-U", "llma", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]);
    const port = await freePort();
    const log = join(dir, "server.log");
    // Unix socket in the temp dir too (no clash with a system server's /var/run/postgresql).
    const serverOptions = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off`;
    try {
      exec([join(bin, "pg_ctl"), "-D", data, "-l", log, "-o", serverOptions, "-w", "-t", "60", "start"]);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${existsSync(log) ? readFileSync(log, "utf8") : ""}`);
    }
    stop = () => exec([join(bin!, "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"]);
    process.env.LLMA_TEST_PG_URL = `postgres://llma@127.0.0.1:${port}/postgres`;
    // For tests that stop and restart the server (faults during load): the same data dir and options.
    process.env.LLMA_TEST_PG_CTL = JSON.stringify({ pgCtl: join(bin, "pg_ctl"), data, log, options: serverOptions, runAs: root ? "postgres" : null });
  } catch (error) {
    process.env.LLMA_TEST_PG_ERROR = (error as Error).message;
    delete process.env.LLMA_TEST_PG_URL;
  }
  return async () => {
    try {
      stop?.();
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  };
}
