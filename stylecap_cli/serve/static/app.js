// The stylecap serve page: plain JavaScript over the HTTP API (docs/serve.md), nothing else.
"use strict";

const $ = (id) => document.getElementById(id);

// The options shown for a backend, when it has them; the rest go in "More options" as KEY=VALUE.
const MAIN_OPTIONS = {
  style: ["alpha", "strength", "amount", "style_weight", "steps", "preserve_color", "preserve_luminance", "direction"],
  caption: ["tone", "num_captions"],
};
const LABELS = {
  alpha: "Strength", strength: "Strength", amount: "Strength", style_weight: "Style weight", steps: "Steps",
  preserve_color: "Keep colours", preserve_luminance: "Keep lightness", direction: "Direction",
  tone: "Tone", num_captions: "Captions",
};
const UNIT_RANGE = new Set(["alpha", "strength", "amount"]);
const PREFERRED = { style: ["adain", "gatys"], caption: ["seqgan", "gumbel-transformer"] };
const PREFERRED_EXAMPLES = { content: "chelsea.jpg", style: "swirls.jpg" };
const POLL_MS = 300;

const state = {
  server: null,
  components: [],
  info: {},
  picks: { content: null, style: null }, // {blob, name, url, example}
  job: null,
  timer: null,
  shown: null, // the job in the result panel
};

async function api(path, options = {}) {
  const response = await fetch(path, options);
  let body = null;
  try {
    body = await response.json();
  } catch (e) {
    body = { error: `${response.status} ${response.statusText}` };
  }
  if (!response.ok) {
    const error = new Error((body && body.error) || `${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function showError(id, message) {
  const node = $(id);
  node.textContent = message || "";
  node.hidden = !message;
}

// -- server status ------------------------------------------------------------------------------

async function refreshStatus() {
  const pill = $("server-status");
  try {
    state.server = await api("/api/server");
    const q = state.server.queue;
    const busy = q.running + q.waiting;
    pill.textContent = `stylecap ${state.server.version} · ${state.server.device} · ` +
      (busy ? `${busy} job${busy > 1 ? "s" : ""} in hand` : "ready");
    pill.className = "status" + (busy ? " busy" : "");
  } catch (e) {
    pill.textContent = "server unreachable";
    pill.className = "status down";
  }
}

// -- pictures -----------------------------------------------------------------------------------

function pick(kind, blob, name, example = null) {
  const old = state.picks[kind];
  if (old && old.url && !old.example) URL.revokeObjectURL(old.url);
  const url = URL.createObjectURL(blob);
  state.picks[kind] = { blob, name, url, example };
  const drop = $(`${kind}-drop`);
  const preview = $(`${kind}-preview`);
  preview.src = url;
  preview.alt = name;
  preview.hidden = false;
  drop.classList.add("filled");
  drop.querySelector(".drop-hint strong").textContent = name;
  for (const button of $(`${kind}-examples`).querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button.dataset.name === example));
  }
  showError("form-error", "");
}

function takeFile(kind, file) {
  if (!file) return;
  const limit = state.server && state.server.limits.max_upload_bytes;
  if (limit && file.size > limit) {
    showError("form-error", `${file.name} is ${(file.size / 2 ** 20).toFixed(1)} MB; ` +
      `the server takes at most ${(limit / 2 ** 20).toFixed(0)} MB.`);
    return;
  }
  if (file.type && !file.type.startsWith("image/")) {
    showError("form-error", `${file.name} does not look like a picture.`);
    return;
  }
  pick(kind, file, file.name);
}

function wireDrop(kind) {
  const drop = $(`${kind}-drop`);
  const input = $(`${kind}-input`);
  drop.addEventListener("click", () => input.click());
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); }
  });
  input.addEventListener("change", () => { takeFile(kind, input.files[0]); input.value = ""; });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    takeFile(kind, e.dataTransfer.files[0]);
  });
}

async function useExample(kind, example) {
  const response = await fetch(example.url);
  if (!response.ok) return showError("form-error", `cannot load ${example.name}`);
  pick(kind, await response.blob(), example.name, example.name);
}

async function loadExamples() {
  const examples = await api("/api/examples");
  for (const kind of ["content", "style"]) {
    const row = $(`${kind}-examples`);
    row.replaceChildren(...examples.map((example) => el("button", {
      type: "button", title: example.name, "data-name": example.name, "aria-pressed": "false",
      onclick: () => useExample(kind, example),
    }, el("img", { src: example.url, alt: example.name, loading: "lazy" }))));
    const preferred = examples.find((e) => e.name === PREFERRED_EXAMPLES[kind]);
    if (preferred && !state.picks[kind]) await useExample(kind, preferred);
  }
}

// -- backends and their options ----------------------------------------------------------------

async function info(kind, name) {
  const key = `${kind}/${name}`;
  if (!state.info[key]) state.info[key] = await api(`/api/components/${kind}/${encodeURIComponent(name)}`);
  return state.info[key];
}

function fillBackends(kind) {
  const select = $(`${kind}-backend`);
  const entries = state.components.filter((e) => e.kind === kind);
  const none = kind === "style" ? "no restyling (caption the photo)" : "no caption";
  select.replaceChildren(
    ...entries.map((e) => el("option", { value: e.name, text: e.name, title: e.description })),
    el("option", { value: "none", text: none }),
  );
  const names = entries.map((e) => e.name);
  const preferred = PREFERRED[kind].find((n) => names.includes(n)) || names[0] || "none";
  select.value = preferred;
  select.addEventListener("change", () => renderOptions(kind));
}

function literalChoices(type) {
  const parts = type.split("|").map((p) => p.trim());
  if (!parts.every((p) => /^'.*'$/.test(p))) return null;
  return parts.map((p) => p.slice(1, -1));
}

function control(kind, option) {
  const id = `${kind}-opt-${option.name}`;
  const label = el("label", { for: id, text: LABELS[option.name] || option.name, title: option.help });
  const choices = literalChoices(option.type);
  let input;
  let output = el("span");
  if (choices) {
    input = el("select", { id }, ...choices.map((c) => el("option", { value: c, text: c })));
    input.value = option.default;
  } else if (option.type === "bool") {
    input = el("input", { id, type: "checkbox" });
    input.checked = Boolean(option.default);
  } else if (option.type === "float" && UNIT_RANGE.has(option.name)) {
    input = el("input", { id, type: "range", min: "0", max: "1", step: "0.05", value: option.default });
    output = el("output", { for: id, text: Number(option.default).toFixed(2) });
    input.addEventListener("input", () => { output.textContent = Number(input.value).toFixed(2); });
  } else if (option.type === "int" || option.type === "float") {
    const attrs = { id, type: "number", value: option.default, step: option.type === "int" ? "1" : "any" };
    if (option.name === "num_captions") Object.assign(attrs, { min: "1", max: "5" });
    if (option.name === "steps") Object.assign(attrs, { min: "1", max: "2000" });
    input = el("input", attrs);
  } else {
    return null;
  }
  input.dataset.option = option.name;
  input.dataset.type = option.type;
  input.dataset.default = JSON.stringify(option.default);
  return el("div", { class: "opt", title: option.help }, label, input, output);
}

async function renderOptions(kind) {
  const name = $(`${kind}-backend`).value;
  const box = $(`${kind}-options`);
  const desc = $(`${kind}-desc`);
  if (name === "none") {
    box.replaceChildren();
    desc.textContent = desc.title = "";
  } else {
    const doc = await info(kind, name);
    desc.textContent = doc.description;
    desc.title = doc.description;
    const byName = Object.fromEntries(doc.options.map((o) => [o.name, o]));
    box.replaceChildren(...MAIN_OPTIONS[kind].filter((n) => byName[n]).map((n) => control(kind, byName[n])).filter(Boolean));
  }
  if (kind === "style") {
    const needsStyle = name !== "none" && (await info("style", name)).needs_style;
    $("style-step").hidden = !needsStyle;
    $("style-note").hidden = needsStyle || name === "none";
    $("style-note").textContent = `${name} has its style built in: no style picture needed.`;
  }
}

function optionsOf(kind) {
  const options = {};
  for (const input of $(`${kind}-options`).querySelectorAll("[data-option]")) {
    const type = input.dataset.type;
    let value;
    if (input.type === "checkbox") value = input.checked;
    else if (type === "int" || type === "float") {
      if (input.value === "") continue;
      value = Number(input.value);
    } else value = input.value;
    if (JSON.stringify(value) !== input.dataset.default) options[input.dataset.option] = value;
  }
  for (const line of $(`${kind}-extra`).value.split("\n")) {
    if (!line.trim()) continue;
    const at = line.indexOf("=");
    if (at < 1) throw new Error(`"${line.trim()}" is not KEY=VALUE`);
    options[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return options;
}

// -- running a job ------------------------------------------------------------------------------

async function run() {
  showError("form-error", "");
  const styleBackend = $("style-backend").value;
  const captionBackend = $("caption-backend").value;
  const needsStyle = !$("style-step").hidden;
  if (!state.picks.content) return showError("form-error", "Choose a photo first.");
  if (needsStyle && !state.picks.style) return showError("form-error", "Choose a style picture too.");
  const form = new FormData();
  try {
    form.append("style_options", JSON.stringify(optionsOf("style")));
    form.append("caption_options", JSON.stringify(optionsOf("caption")));
  } catch (e) {
    return showError("form-error", e.message);
  }
  form.append("content", state.picks.content.blob, state.picks.content.name);
  if (needsStyle) form.append("style", state.picks.style.blob, state.picks.style.name);
  form.append("style_backend", styleBackend);
  form.append("caption_backend", captionBackend);
  if ($("seed").value !== "") form.append("seed", $("seed").value);
  $("run").disabled = true;
  try {
    const job = await api("/api/run", { method: "POST", body: form });
    startShowing(job, state.picks.content.url);
    follow(job.id);
  } catch (e) {
    showError("form-error", e.message);
  } finally {
    $("run").disabled = false;
  }
}

function startShowing(job, originalUrl) {
  state.shown = job.id;
  $("empty").hidden = true;
  $("compare").hidden = false;
  $("original-img").src = originalUrl || job.content_url;
  $("result-img").removeAttribute("src");
  $("said").hidden = true;
  $("actions").hidden = true;
  showError("job-error", "");
  markCurrent();
  render(job);
}

function follow(id) {
  clearTimeout(state.timer);
  state.job = id;
  const tick = async () => {
    if (state.job !== id) return;
    let job;
    try {
      job = await api(`/api/jobs/${id}`);
    } catch (e) {
      showError("job-error", e.message);
      return;
    }
    if (state.shown === id) render(job);
    if (["done", "failed", "cancelled"].includes(job.status)) {
      state.job = null;
      refreshHistory();
      refreshStatus();
    } else {
      state.timer = setTimeout(tick, POLL_MS);
    }
  };
  tick();
}

function phaseText(job) {
  const { step, total } = job.progress;
  switch (job.status) {
    case "queued": return job.position ? `waiting: ${job.position} ahead` : "next in line…";
    case "running":
      if (job.cancelling) return "cancelling…";
      if (job.phase === "loading") return "loading the models…";
      if (job.phase === "captioning") return "thinking of something to say…";
      if (job.phase === "saving") return "saving…";
      return total > 1 ? `restyling · step ${step} of ${total}` : "restyling…";
    default: return job.status;
  }
}

function render(job) {
  const working = !["done", "failed", "cancelled"].includes(job.status);
  const progress = $("progress");
  progress.hidden = !working;
  $("stage").classList.toggle("working", working);
  $("cancel").hidden = !working;
  $("actions").hidden = !working && job.status !== "done";
  $("download").hidden = job.status !== "done";
  $("copy").hidden = job.status !== "done" || !job.caption;
  if (working) {
    const { step, total } = job.progress;
    const bar = $("bar-fill").parentElement;
    const known = total > 1 && job.phase === "styling";
    bar.classList.toggle("indeterminate", !known);
    $("bar-fill").style.width = known ? `${Math.round((100 * step) / total)}%` : "";
    $("progress-label").textContent = phaseText(job);
    if (job.preview_url && $("result-img").getAttribute("src") !== job.preview_url) $("result-img").src = job.preview_url;
  }
  if (job.status === "done") {
    $("result-img").src = job.result_url;
    $("download").href = job.download_url;
    showCaptions(job);
  }
  if (job.status === "failed") showError("job-error", job.error || "it failed");
  if (job.status === "cancelled") showError("job-error", "Cancelled.");
  $("meta").textContent = metaText(job);
}

function showCaptions(job) {
  $("said").hidden = !job.caption;
  $("caption").textContent = job.caption || "";
  $("more-captions").replaceChildren(...(job.captions || []).slice(1).map((c) => el("li", { text: c })));
  const saw = $("saw");
  const concepts = ((job.condition && job.condition.concepts) || []).slice(0, 4);
  const feeling = job.condition && job.condition.feeling;
  saw.replaceChildren();
  if (concepts.length || feeling) {
    saw.append("What it saw: ", ...concepts.map((c) => el("span", { class: "chip", text: c.concept })));
    if (feeling) saw.append(" feeling ", el("span", { class: "chip", text: feeling }));
  }
}

function metaText(job) {
  const parts = [[job.style_backend, job.caption_backend].filter(Boolean).join(" + ")];
  const t = job.timings && job.timings.total_s;
  if (t) parts.push(`${t < 10 ? t.toFixed(1) : Math.round(t)} s`);
  if (job.size) parts.push(`${job.size[0]}×${job.size[1]}`);
  if (job.seed !== null && job.seed !== undefined) parts.push(`seed ${job.seed}`);
  return parts.filter(Boolean).join(" · ");
}

async function cancel() {
  if (!state.shown) return;
  try {
    const answer = await api(`/api/jobs/${state.shown}`, { method: "DELETE" });
    if (answer.job) render(answer.job);
  } catch (e) {
    showError("job-error", e.message);
  }
}

// -- earlier results ----------------------------------------------------------------------------

function markCurrent() {
  for (const card of $("history").querySelectorAll(".card")) {
    card.classList.toggle("current", card.dataset.id === state.shown);
  }
}

async function refreshHistory() {
  let jobs;
  try {
    jobs = (await api("/api/jobs")).jobs.filter((j) => j.status === "done");
  } catch (e) {
    return;
  }
  const grid = $("history");
  if (!jobs.length) {
    grid.replaceChildren(el("p", { class: "meta", text: "Nothing yet." }));
    return;
  }
  grid.replaceChildren(...jobs.map((job) => {
    const open = () => { startShowing(job); };
    const remove = async (e) => {
      e.stopPropagation();
      try { await api(`/api/jobs/${job.id}`, { method: "DELETE" }); } catch (err) { /* already gone */ }
      refreshHistory();
    };
    return el("article", {
      class: "card", tabindex: "0", "data-id": job.id, onclick: open,
      onkeydown: (e) => { if (e.key === "Enter") open(); },
    },
    el("img", { src: job.result_url, alt: job.caption || "a restyled picture", loading: "lazy" }),
    el("button", { class: "remove", type: "button", title: "Remove", "aria-label": "Remove", text: "×", onclick: remove }),
    el("div", { class: "text" },
      el("div", { class: "cap", text: job.caption || "(no caption)" }),
      el("div", { class: "by", text: `${job.content_name} · ${[job.style_backend, job.caption_backend].filter(Boolean).join(" + ")}` })));
  }));
  markCurrent();
}

// -- start --------------------------------------------------------------------------------------

async function copyCaption() {
  const text = $("caption").textContent;
  try {
    await navigator.clipboard.writeText(text);
    $("copy").textContent = "Copied";
    setTimeout(() => { $("copy").textContent = "Copy caption"; }, 1500);
  } catch (e) {
    showError("job-error", "The browser did not allow copying.");
  }
}

async function start() {
  wireDrop("content");
  wireDrop("style");
  $("run").addEventListener("click", run);
  $("cancel").addEventListener("click", cancel);
  $("copy").addEventListener("click", copyCaption);
  $("original-img").addEventListener("load", () => {
    const image = $("original-img");
    if (image.naturalWidth) $("compare").style.setProperty("--ratio", `${image.naturalWidth} / ${image.naturalHeight}`);
  });
  await refreshStatus();
  try {
    state.components = await api("/api/components");
    fillBackends("style");
    fillBackends("caption");
    await Promise.all([renderOptions("style"), renderOptions("caption")]);
    await loadExamples();
  } catch (e) {
    showError("form-error", `Could not load the backends: ${e.message}`);
  }
  refreshHistory();
  setInterval(refreshStatus, 5000);
  document.body.dataset.ready = "true";
}

start();
