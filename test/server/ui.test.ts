/**
 * The playground page in a real headless Chromium (playwright-core driving Debian's /usr/bin/chromium,
 * installed by scripts/test-deps.sh; nothing is downloaded): a predicted output lights up as copied
 * spans and gives plain decoding's text, compare mode reports identical texts, a 400 shows the
 * server's message, a 401 asks for the key and then sends it, a 429 says the server is busy, the
 * controls are reachable by keyboard, and nothing is loaded from another origin. Screenshot:
 * test-artifacts/ui.png (and docs/playground.png with LLMA_UPDATE_SCREENSHOT=1).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { LlamaCppModel } from "../../src/backends/llama-cpp.js";
import { ensureModel } from "../../src/backends/model-cache.js";
import { buildApp, type LlmaServer } from "../../src/server/app.js";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const MAX_TOKENS = 48;
const QUESTION = "Where is the Eiffel Tower? Answer in one sentence.";

let model: LlamaCppModel;
let server: LlmaServer;
let url: string;
let profile: string;
let context: BrowserContext;
let page: Page;
/** Every URL the page requested (all must be this server's). */
const requested: string[] = [];
/** Plain greedy decoding's answer to QUESTION, from the API. */
let answer: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`Chromium is not installed at ${CHROMIUM}: run scripts/test-deps.sh (npm test runs it first; it installs Debian's chromium with apt-get)`);
  const path = await ensureModel({ shape: "tiny", quant: "Q8_0" });
  model = await LlamaCppModel.load({ model: path, threads: 2, sequences: 1 });
  server = buildApp({ model, modelName: "tiny", policy: "paper" });
  url = await server.listen({ host: "127.0.0.1", port: 0 });
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: QUESTION }], max_tokens: MAX_TOKENS, llma: { conversation_references: false, output_references: false } }),
  });
  answer = ((await response.json()) as { choices: { message: { content: string } }[] }).choices[0].message.content;
  expect(answer.length).toBeGreaterThan(10);
  profile = mkdtempSync(join(tmpdir(), "llma-ui-chromium-"));
  context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1280, height: 900 } });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("request", (request) => requested.push(request.url()));
});

afterAll(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await server?.close(1000);
  await model?.dispose();
});

beforeEach(async () => {
  await page.unrouteAll();
  await page.goto(`${url}/`);
  await page.evaluate(() => sessionStorage.clear());
  await page.reload();
  await expect.poll(() => page.textContent("#model-info")).toMatch(/^Model tiny/);
});

/** The answer as a panel shows it: its text without the struck-through rejected drafts. */
function answerOf(panel: number): Promise<string> {
  return page.evaluate((index) => {
    const output = document.querySelectorAll(".run .output")[index].cloneNode(true) as HTMLElement;
    for (const rejected of output.querySelectorAll("del")) rejected.remove();
    return output.textContent ?? "";
  }, panel);
}

async function fillRequest(fields: { prediction?: string; references?: string; maxTokens?: string }) {
  await page.fill("#prompt", QUESTION);
  await page.fill("#prediction", fields.prediction ?? "");
  await page.fill("#references", fields.references ?? "");
  await page.fill("#max-tokens", fields.maxTokens ?? String(MAX_TOKENS));
}

describe("the playground page in Chromium", () => {
  it("a predicted output, sent from the keyboard: copied spans marked (underlined, not only coloured), plain decoding's text, the figures", async () => {
    await fillRequest({ prediction: answer });
    // Keyboard: from max tokens, Tab reaches the seed, the compare switch, then Generate; Enter sends.
    await page.focus("#max-tokens");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("seed");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("compare");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("run");
    await page.keyboard.press("Enter");
    await page.waitForSelector('.run[data-done="true"]');
    expect(await page.textContent("#status")).toBe("Done.");
    expect(await page.isHidden("#error")).toBe(true);

    expect(await answerOf(0)).toBe(answer);
    const copied = await page.$$eval('.run mark.copied[data-source="prediction"]', (marks) =>
      marks.map((m) => ({ text: m.textContent ?? "", underline: getComputedStyle(m).textDecorationLine, title: m.getAttribute("title") ?? "" })),
    );
    expect(copied.length).toBeGreaterThan(0);
    expect(copied.map((c) => c.text).join("").length).toBeGreaterThan(answer.length / 3);
    expect(copied.every((c) => c.underline.includes("underline") && /copied from the predicted output/.test(c.title))).toBe(true);
    const figures = await page.$$eval(".run [data-figure]", (dds) => Object.fromEntries(dds.map((dd) => [dd.getAttribute("data-figure"), dd.textContent ?? ""])));
    expect(Number(figures["per-pass"])).toBeGreaterThan(1.5);
    expect(Number(figures.tokens)).toBe(MAX_TOKENS);
    expect(Number(figures.accepted)).toBeGreaterThan(MAX_TOKENS / 2);
    expect(figures.ttft).toMatch(/^\d+ ms$/);
    expect(Number(figures.rate)).toBeGreaterThan(0);
    expect(await page.textContent("#model-info")).toMatch(/exact/);
  });

  it("compare mode: the run with a half-wrong prediction and the plain run give identical texts, rejected drafts struck through; screenshot", async () => {
    const wrong = `${answer.slice(0, Math.floor(answer.length / 2))} zebra quartz violin ${answer.slice(Math.floor(answer.length / 2))}`;
    await fillRequest({ prediction: wrong, references: `Paris is the capital of France.\n---\n${answer.slice(0, 30)}` });
    await page.check("#compare");
    await page.click("#run");
    await page.waitForSelector("#verdict:not([hidden])");
    expect(await page.getAttribute("#verdict", "data-identical")).toBe("true");
    expect(await page.textContent("#verdict")).toMatch(/^Identical texts .*tokens\/s.*tokens\/s/);
    expect(await page.$$eval(".run", (runs) => runs.map((r) => r.getAttribute("data-done")))).toEqual(["true", "true"]);
    expect(await answerOf(0)).toBe(answer);
    expect(await answerOf(1)).toBe(answer);
    // The plain run drafts nothing; the accelerated one copied and had drafts rejected.
    expect(await page.$$eval(".run:nth-child(2) mark, .run:nth-child(2) del", (marks) => marks.length)).toBe(0);
    expect(await page.$$eval(".run:nth-child(1) mark.copied", (marks) => marks.length)).toBeGreaterThan(0);
    const struck = await page.$$eval(".run:nth-child(1) del.rejected", (dels) => dels.map((d) => getComputedStyle(d).textDecorationLine));
    expect(struck.length).toBeGreaterThan(0);
    expect(struck.every((line) => line.includes("line-through"))).toBe(true);

    mkdirSync("test-artifacts", { recursive: true });
    await page.screenshot({ path: "test-artifacts/ui.png", fullPage: true });
    if (process.env.LLMA_UPDATE_SCREENSHOT === "1") await page.screenshot({ path: "docs/playground.png", fullPage: true });
    expect(existsSync("test-artifacts/ui.png")).toBe(true);
  });

  it("a 400 shows the server's message", async () => {
    await fillRequest({ maxTokens: "100000" });
    await page.click("#run");
    await page.waitForSelector("#error:not([hidden])");
    expect(await page.textContent("#error")).toMatch(/^Invalid request \(400\): This model's maximum context length is \d+ tokens/);
    expect(await page.textContent("#status")).toBe("The request failed.");
  });

  it("a 401 asks for the API key, which is then kept for the tab and sent as a Bearer token", async () => {
    const authorizations: (string | undefined)[] = [];
    // The server in this test has no key; the route answers 401 until the page sends one (as --api-key does).
    await page.route("**/v1/chat/completions", async (route) => {
      const authorization = route.request().headers().authorization;
      authorizations.push(authorization);
      if (authorization === undefined)
        await route.fulfill({ status: 401, contentType: "application/json", body: JSON.stringify({ error: { message: "Missing API key", type: "invalid_request_error", param: null, code: "invalid_api_key" } }) });
      else await route.continue();
    });
    await fillRequest({ prediction: answer });
    await page.click("#run");
    await page.waitForSelector("#error:not([hidden])");
    expect(await page.textContent("#error")).toMatch(/Unauthorized \(401\): Missing API key/);
    expect(await page.isVisible("#key-section")).toBe(true);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("api-key");
    await page.keyboard.type("sekret");
    await page.keyboard.press("Enter");
    expect(await page.evaluate(() => sessionStorage.getItem("llma.apiKey"))).toBe("sekret");
    await page.click("#run");
    await page.waitForSelector('.run[data-done="true"]');
    expect(authorizations).toEqual([undefined, "Bearer sekret"]);
    expect(await answerOf(0)).toBe(answer);
    expect(await page.isHidden("#error")).toBe(true);
  });

  it("a 429 says the server is busy and when to retry", async () => {
    await page.route("**/v1/chat/completions", (route) =>
      route.fulfill({
        status: 429,
        contentType: "application/json",
        headers: { "retry-after": "3" },
        body: JSON.stringify({ error: { message: "the queue is full (16 waiting)", type: "rate_limit_error", param: null, code: "queue_full" } }),
      }),
    );
    await fillRequest({});
    await page.click("#run");
    await page.waitForSelector("#error:not([hidden])");
    expect(await page.textContent("#error")).toBe("The server is busy (429): the queue is full (16 waiting). Retry in 3 s.");
  });

  it("the page loaded nothing from another origin", () => {
    expect(requested.length).toBeGreaterThan(5);
    expect(requested.filter((u) => !u.startsWith(`${url}/`))).toEqual([]);
  });
});
