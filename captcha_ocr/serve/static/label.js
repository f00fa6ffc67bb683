// The labeling page: one captcha at a time, the model's reading pre-filled; keyboard only.
// Enter saves the text in the box (the reading accepted, or corrected), Esc skips, Ctrl+Z undoes.
// A label with characters the model does not know is refused once: Enter again confirms them.
"use strict";

const $ = (id) => document.getElementById(id);
let current = null;   // the item on screen: {file, text, confidence, positions}
let busy = false;     // one request at a time: a held-down Enter must not label twice
let pending = null;   // a label refused for new characters: {file, text, unknown}, confirmed by Enter again
let imageUrl = null;  // the object URL of the captcha on screen

// A server started with a token is opened as /label#token=TOKEN: the token is kept for this tab, and
// the address bar loses it. Every request carries it (the server refuses writes that are not JSON, or
// that come from another site, so every POST has a JSON body).
function takeToken() {
  if (!location.hash.startsWith("#token=")) return false;
  sessionStorage.setItem("token", decodeURIComponent(location.hash.slice(7)));
  history.replaceState(null, "", location.pathname + location.search);
  token = sessionStorage.getItem("token");
  return true;
}
let token = sessionStorage.getItem("token");
takeToken();
window.addEventListener("hashchange", () => {  // the address pasted into a tab already on the page
  if (takeToken()) act(() => call("GET", "/v1/label/state"));
});

class RequestFailed extends Error {
  constructor(message, data) { super(message); this.data = data; }
}

function headers(extra) {
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

async function call(method, url, body) {
  const options = { method, headers: headers({}) };
  if (method !== "GET") {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body === undefined ? {} : body);
  }
  const response = await fetch(url, options);
  const data = await response.json();
  if (response.status === 401) {
    throw new RequestFailed("This server needs its token: open this page as /label#token=YOUR_TOKEN.", data);
  }
  if (!response.ok) throw new RequestFailed(data.error || response.statusText, data);
  return data;
}

async function showImage(file) {
  // Fetched rather than linked, so that the request carries the token.
  const response = await fetch(`/v1/label/images/${encodeURIComponent(file)}`, { headers: headers({}) });
  if (!response.ok || !current || current.file !== file) return;
  const url = URL.createObjectURL(await response.blob());
  if (imageUrl) URL.revokeObjectURL(imageUrl);
  imageUrl = url;
  $("captcha").src = url;
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
  showImage(current.file);
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

async function act(request, done, refused) {
  if (busy) return;
  busy = true;
  try {
    show(await request());
    pending = null;
    $("message").textContent = done || "";
    $("message").className = "ok";
  } catch (err) {
    $("message").textContent = (refused && refused(err)) || err.message;
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
  const body = { text };
  if (pending && pending.file === file && pending.text === text) body.add_chars = pending.unknown;
  act(() => call("POST", `/v1/label/images/${encodeURIComponent(file)}`, body), `Saved ${file} as "${text.trim()}".`,
    (err) => {
      const unknown = err.data && err.data.unknown;
      if (!unknown) return null;
      pending = { file, text, unknown };
      const list = [...unknown].map((c) => `"${c}"`).join(", ");
      return `The model does not know ${list}. Press Enter again to add ${unknown.length > 1 ? "them" : "it"}, or correct the label.`;
    });
});

act(() => call("GET", "/v1/label/state"));
