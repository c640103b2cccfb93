/**
 * `llma serve` as a process serves the playground at GET / (from the compiled dist/, which reads the
 * page's files from src/server/ui as the package ships them), and `--no-ui` turns it off.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ensureModel } from "../../src/backends/model-cache.js";
import { ensureBuilt, llma } from "../helpers/cli.js";
import { killServers, startServe, type ServedProcess } from "../helpers/serve.js";

let model: string;

beforeAll(async () => {
  ensureBuilt();
  model = await ensureModel({ shape: "tiny", quant: "Q8_0" });
});

afterEach(() => killServers());

/** Starts `llma serve` on a free port; resolves to its URL and what it printed. */
async function serve(...args: string[]): Promise<{ url: string; stderr: string; child: ServedProcess["child"] }> {
  const served = await startServe(["serve", "--model", model, "--port", "0", "--threads", "1", "--policy", "paper", ...args], { timeoutMs: 60_000 });
  return { url: served.url, stderr: served.stderr(), child: served.child };
}

describe("llma serve: the playground", () => {
  it("serves the page at GET / and says where; --no-ui serves none", async () => {
    const withUi = await serve();
    expect(withUi.stderr).toContain(`(playground: ${withUi.url}/)`);
    const page = await fetch(`${withUi.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<title>llma playground</title>");
    expect((await fetch(`${withUi.url}/ui/app.js`)).status).toBe(200);
    withUi.child.kill("SIGTERM");

    const without = await serve("--no-ui");
    expect(without.stderr).not.toContain("playground");
    const none = await fetch(`${without.url}/`);
    expect(none.status).toBe(404);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe("unknown_url");
    // The API is unchanged.
    expect((await fetch(`${without.url}/v1/models`)).status).toBe(200);
  });

  it("documents --no-ui in --help", () => {
    const help = llma("serve", "--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--no-ui\s+do not serve the playground page/);
  });
});
