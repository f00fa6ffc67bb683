// The labeling page: one captcha at a time, the model's reading pre-filled; keyboard only.
// Enter saves the text in the box (the reading accepted, or corrected), Esc skips, Ctrl+Z undoes.
"use strict";

const $ = (id) => document.getElementById(id);
let current = null;   // the item on screen: {file, text, confidence, positions}
let busy = false;     // one request at a time: a held-down Enter must not label twice

async function call(method, url, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(url, options);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function percent(x) {
  if (x > 0 && x < 0.01) return "under 1%";
  return (100 * x).toFixed(x >= 0.995 || x < 0.01 ? 0 : 1) + "%";
}

function show(state) {
  $("progress").textContent = `${state.labeled} / ${state.total} labeled, ${state.remaining} to go`
    + (state.unreadable.length ? ` (${state.unreadable.length} unreadable images left out)` : "");
  const a = state.agreement;
  $("agreement").textContent = a.compared
    ? `The model agreed with you on ${a.agreed} of ${a.compared} (${percent(a.rate)}).` : "";
  $("folder").textContent = ` · ${state.folder}`;
  current = state.item;
  $("work").hidden = !current;
  $("done").hidden = !!current;
  $("retrain").hidden = !current || !state.train_command;
  $("retrain-command").textContent = state.train_command || "";
  if (!current) {
    // The training command (two lines): serving its result is for another round, with nothing left to label.
    $("train-command").textContent = (state.train_command || "").split("\n").slice(0, 2).join("\n");
    return;
  }
  $("captcha").src = `/v1/label/images/${encodeURIComponent(current.file)}`;
  $("captcha").alt = `captcha ${current.file}`;
  const positions = $("positions");
  positions.replaceChildren();
  for (const p of current.positions) {
    if (!p.char) continue;
    const span = document.createElement("span");
    span.textContent = p.char;
    span.title = `${percent(p.confidence)} sure`;
    span.className = p.confidence < 0.5 ? "low" : p.confidence < 0.9 ? "mid" : "";
    positions.append(span);
  }
  $("confidence").textContent = `${current.file}: the model reads "${current.text}" with ${percent(current.confidence)} confidence`;
  const input = $("reading");
  input.value = current.text;
  input.focus();
  input.select();
}

async function act(request, done) {
  if (busy) return;
  busy = true;
  try {
    show(await request());
    $("message").textContent = done || "";
    $("message").className = "ok";
  } catch (err) {
    $("message").textContent = err.message;
    $("message").className = "";
  } finally {
    busy = false;
  }
}

document.addEventListener("keydown", (event) => {
  if (event.key === "z" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    act(() => call("POST", "/v1/label/undo"), "Undone.");
  } else if (event.key === "Escape" && current) {
    event.preventDefault();
    act(() => call("POST", "/v1/label/skip", { file: current.file }), `Skipped ${current.file}.`);
  }
});

$("form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (!current) return;
  const file = current.file, text = $("reading").value;
  act(() => call("POST", `/v1/label/images/${encodeURIComponent(file)}`, { text }), `Saved ${file} as "${text.trim()}".`);
});

act(() => call("GET", "/v1/label/state"));
