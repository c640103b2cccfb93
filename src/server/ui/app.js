// The llma playground: sends chat requests to this server with `llma: {trace: true}`, reads the
// OpenAI event stream with fetch + ReadableStream, and shows which spans were copied (and from where),
// which drafts were rejected, and the speed figures. Standard browser APIs only, no dependencies.

const KEY_STORAGE = "llma.apiKey";
/** Sources the legend groups under one mark style; the page names each source in the mark's title. */
const SOURCE_NAMES = {
  prediction: "the predicted output",
  reference: "a reference",
  document: "a retrieved document",
  cache: "a cached answer",
  conversation: "the conversation",
  output: "the output so far",
};

const $ = (id) => document.getElementById(id);

/** A request's failure as the page shows it (the server's message, or what the status means). */
class RequestError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) ?? "";
}

function headers(json) {
  const result = json ? { "content-type": "application/json" } : {};
  const key = apiKey();
  if (key !== "") result.authorization = `Bearer ${key}`;
  return result;
}

function showKeyForm(message) {
  $("key-section").hidden = false;
  $("key-message").textContent = message;
  $("api-key").focus();
}

function showError(message) {
  const error = $("error");
  error.textContent = message;
  error.hidden = false;
}

function clearMessages() {
  $("error").hidden = true;
  $("error").textContent = "";
  $("verdict").hidden = true;
  $("verdict").textContent = "";
  $("verdict").removeAttribute("data-identical");
}

/** The error message of a failed response: the server's own (OpenAI's {error: {message}}), with what to do for 401/429. */
async function failure(response) {
  let message = "";
  try {
    const body = await response.json();
    message = body?.error?.message ?? "";
  } catch {
    // Not JSON: the status says enough.
  }
  if (response.status === 401) {
    showKeyForm(`The server needs an API key${message ? ` (${message})` : ""}. Enter it here, then send the request again.`);
    return new RequestError(`Unauthorized (401): ${message || "this server needs an API key"}. Enter the key above.`, 401);
  }
  if (response.status === 429) {
    const retry = response.headers.get("retry-after");
    return new RequestError(`The server is busy (429): ${message || "too many requests"}${retry ? `. Retry in ${retry} s.` : ""}`, 429);
  }
  if (response.status === 400) return new RequestError(`Invalid request (400): ${message || "the server refused the request"}`, 400);
  return new RequestError(`The server answered ${response.status}${message ? `: ${message}` : ""}`, response.status);
}

function describeExactness(llma) {
  if (!llma) return "exactness unknown";
  const mode = llma.exactness === "relaxed" ? "relaxed mode" : "strict mode";
  if (llma.exact === true) return `verified exact: batched passes equal one-token passes (${mode})`;
  if (llma.exact === false)
    return llma.exactness === "strict"
      ? `batched passes exact only up to ${llma.exact_up_to ?? 1} tokens: strict mode keeps drafts within that, so output stays identical`
      : `batched passes NOT exact beyond ${llma.exact_up_to ?? 1} tokens and the server is in relaxed mode: output may differ from plain decoding`;
  return `exactness not measured for this model (${mode})`;
}

async function loadModelInfo() {
  const info = $("model-info");
  try {
    const response = await fetch("/v1/models", { headers: headers(false) });
    if (!response.ok) throw await failure(response);
    const body = await response.json();
    const model = body.data?.[0];
    if (!model) throw new RequestError("the server lists no model", 0);
    info.textContent = `Model ${model.id} — ${describeExactness(model.llma)}.`;
    info.dataset.model = model.id;
  } catch (error) {
    info.textContent = `Could not load the model's details: ${error.message}`;
  }
}

/**
 * The request body; `plain` turns every reference source off (plain decoding, for the comparison).
 * `seed`: the seed both runs of a sampled comparison share (else the texts could not be compared).
 */
function requestBody(plain, seed) {
  const messages = [];
  const system = $("system").value;
  if (system.trim() !== "") messages.push({ role: "system", content: system });
  messages.push({ role: "user", content: $("prompt").value });
  const body = {
    model: $("model-info").dataset.model ?? "default",
    messages,
    stream: true,
    stream_options: { include_usage: true },
    temperature: Number($("temperature").value || "0"),
    llma: { trace: true },
  };
  const maxTokens = $("max-tokens").value.trim();
  if (maxTokens !== "") body.max_tokens = Number(maxTokens);
  if (seed !== undefined) body.seed = seed;
  if (plain) {
    body.llma = { trace: true, prediction: false, references: false, conversation_references: false, output_references: false, cache: false };
    return body;
  }
  const prediction = $("prediction").value;
  if (prediction !== "") body.prediction = { type: "content", content: prediction };
  const references = $("references")
    .value.split(/^---$/m)
    .map((reference) => reference.replace(/^\n/, "").replace(/\n$/, ""))
    .filter((reference) => reference.trim() !== "");
  if (references.length > 0) body.references = references;
  return body;
}

/** One run's panel: figures, the marked output, and what the stream said. */
class RunView {
  constructor(title) {
    const node = $("run-template").content.firstElementChild.cloneNode(true);
    node.setAttribute("aria-label", title);
    node.querySelector(".run-title").textContent = title;
    $("runs").append(node);
    this.node = node;
    this.output = node.querySelector(".output");
    this.content = "";
    /** Display pieces from the trace, in order: {kind: "copied" | "rejected" | "own", text, source}. */
    this.pieces = [];
    this.passes = 0;
    this.tokens = 0;
    this.accepted = 0;
    this.rejected = 0;
    this.started = performance.now();
    this.firstTokenAt = undefined;
    this.finishedAt = undefined;
  }

  figure(name, value) {
    this.node.querySelector(`[data-figure="${name}"]`).textContent = value;
  }

  addContent(text) {
    if (text === "") return;
    if (this.firstTokenAt === undefined) {
      this.firstTokenAt = performance.now();
      this.figure("ttft", `${Math.round(this.firstTokenAt - this.started)} ms`);
    }
    this.content += text;
  }

  addTrace(entries) {
    for (const entry of entries) {
      this.passes++;
      this.tokens += entry.emitted;
      this.accepted += entry.accepted;
      this.rejected += entry.drafted - entry.accepted;
      if (entry.accepted_text !== "") this.append({ kind: "copied", text: entry.accepted_text, source: entry.source, count: entry.accepted });
      if (entry.rejected_text !== "") this.append({ kind: "rejected", text: entry.rejected_text, source: entry.source, count: entry.drafted - entry.accepted });
      if (entry.generated_text !== "") this.append({ kind: "own", text: entry.generated_text });
    }
    this.updateFigures();
  }

  append(piece) {
    this.pieces.push(piece);
    this.output.append(this.render(piece));
  }

  render(piece) {
    if (piece.kind === "own") return document.createTextNode(piece.text);
    const element = document.createElement(piece.kind === "copied" ? "mark" : "del");
    element.className = piece.kind;
    element.dataset.source = piece.source ?? "unknown";
    const from = SOURCE_NAMES[piece.source] ?? "an unknown source";
    element.title =
      piece.kind === "copied"
        ? `${piece.count} token(s) copied from ${from}, verified by the model`
        : `${piece.count} token(s) drafted from ${from}, rejected by the model`;
    element.textContent = piece.text;
    return element;
  }

  updateFigures() {
    const now = this.finishedAt ?? performance.now();
    this.figure("tokens", String(this.tokens));
    this.figure("passes", String(this.passes));
    this.figure("per-pass", this.passes > 0 ? (this.tokens / this.passes).toFixed(2) : "–");
    this.figure("accepted", String(this.accepted));
    this.figure("rejected", String(this.rejected));
    const seconds = (now - this.started) / 1000;
    if (seconds > 0 && this.tokens > 0) this.figure("rate", (this.tokens / seconds).toFixed(1));
    this.figure("total", `${Math.round(now - this.started)} ms`);
  }

  /** Usage from the last chunk: the server's own counts replace the page's. */
  setUsage(usage) {
    this.tokens = usage.completion_tokens;
    const details = usage.completion_tokens_details ?? {};
    this.accepted = details.accepted_prediction_tokens ?? this.accepted;
    this.rejected = details.rejected_prediction_tokens ?? this.rejected;
  }

  /**
   * The streamed text is the answer; the marks come from the trace, whose pieces are the tokens' own
   * text. They agree except where generation ended on a stop string (the trace then runs past the
   * text: cut it there) or a character was split across passes (then the text is shown unmarked).
   */
  finish() {
    this.finishedAt = performance.now();
    this.updateFigures();
    this.node.dataset.done = "true";
    const traced = this.pieces.filter((p) => p.kind !== "rejected").map((p) => p.text).join("");
    if (traced === this.content) return;
    this.output.replaceChildren();
    if (traced.startsWith(this.content)) {
      let left = this.content.length;
      for (const piece of this.pieces) {
        if (piece.kind === "rejected") {
          if (left > 0) this.output.append(this.render(piece));
          continue;
        }
        if (left <= 0) break;
        const text = piece.text.slice(0, left);
        left -= text.length;
        this.output.append(this.render({ ...piece, text }));
      }
      return;
    }
    this.output.textContent = this.content;
    const note = this.node.querySelector(".note");
    note.hidden = false;
    note.textContent = "The trace's token pieces differ from the streamed text here (a character split across passes), so the answer is shown without marks.";
  }

  fail(message) {
    this.finishedAt = performance.now();
    this.node.dataset.done = "error";
    const note = this.node.querySelector(".note");
    note.hidden = false;
    note.textContent = message;
  }

  get seconds() {
    return ((this.finishedAt ?? performance.now()) - this.started) / 1000;
  }
}

/** Reads an OpenAI event stream: `data: {...}` events separated by blank lines, ending with `data: [DONE]`. */
async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
      const data = event
        .split(/\r?\n/)
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).replace(/^ /, ""))
        .join("\n");
      if (data === "") continue;
      if (data === "[DONE]") return;
      onEvent(JSON.parse(data));
    }
  }
}

async function run(body, view, signal) {
  const response = await fetch("/v1/chat/completions", { method: "POST", headers: headers(true), body: JSON.stringify(body), signal });
  if (!response.ok) throw await failure(response);
  await readEvents(response, (event) => {
    if (event.error) throw new RequestError(`The server stopped the generation: ${event.error.message}`, 500);
    const delta = event.choices?.[0]?.delta;
    if (delta?.content) view.addContent(delta.content);
    if (event.llma?.trace) view.addTrace(event.llma.trace);
    if (event.usage) view.setUsage(event.usage);
  });
  view.finish();
}

let controller;

async function submit(event) {
  event.preventDefault();
  clearMessages();
  $("runs").replaceChildren();
  controller = new AbortController();
  $("run").disabled = true;
  $("stop").disabled = false;
  const status = $("status");
  const compare = $("compare").checked;
  const views = [];
  const seedText = $("seed").value.trim();
  let seed = seedText === "" ? undefined : Number(seedText);
  if (compare && seed === undefined && Number($("temperature").value || "0") > 0) seed = Math.floor(Math.random() * 2 ** 31);
  try {
    const accelerated = new RunView(compare ? "With references and prediction" : "Answer");
    views.push(accelerated);
    status.textContent = "Generating…";
    await run(requestBody(false, seed), accelerated, controller.signal);
    if (compare) {
      const plain = new RunView("Without references (plain decoding)");
      views.push(plain);
      status.textContent = `Generating again without references${seed !== undefined ? ` (same seed ${seed})` : ""}…`;
      await run(requestBody(true, seed), plain, controller.signal);
      showVerdict(accelerated, plain);
    }
    status.textContent = "Done.";
  } catch (error) {
    const message = error.name === "AbortError" ? "Stopped." : error.message;
    for (const view of views) if (view.node.dataset.done !== "true") view.fail(message);
    if (error.name === "AbortError") status.textContent = "Stopped.";
    else {
      status.textContent = "The request failed.";
      showError(message);
    }
  } finally {
    $("run").disabled = false;
    $("stop").disabled = true;
  }
}

function showVerdict(accelerated, plain) {
  const verdict = $("verdict");
  const identical = accelerated.content === plain.content;
  const rate = (view) => (view.tokens / view.seconds).toFixed(1);
  const speedup = plain.seconds / accelerated.seconds;
  verdict.dataset.identical = String(identical);
  verdict.textContent = identical
    ? `Identical texts (${accelerated.content.length} characters). With references: ${rate(accelerated)} tokens/s in ${accelerated.passes} passes; without: ${rate(plain)} tokens/s in ${plain.passes} passes (${speedup.toFixed(2)}x).`
    : `The texts DIFFER (${accelerated.content.length} vs ${plain.content.length} characters): with references ${rate(accelerated)} tokens/s, without ${rate(plain)} tokens/s.`;
  verdict.hidden = false;
}

function init() {
  $("request-form").addEventListener("submit", submit);
  $("stop").addEventListener("click", () => controller?.abort());
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORAGE, $("api-key").value);
    $("api-key").value = "";
    $("key-message").textContent = "Key saved for this tab. Send the request again.";
    void loadModelInfo();
    $("prompt").focus();
  });
  $("forget-key").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORAGE);
    $("key-message").textContent = "Key forgotten.";
  });
  if (apiKey() !== "") {
    $("key-section").hidden = false;
    $("key-message").textContent = "An API key is set for this tab.";
  }
  void loadModelInfo();
}

init();
