// A work doc's page: the editor beside its preview (tabs on a phone),
// saves with If-Match (a conflict shows theirs and yours with a diff and
// loses nothing), TODO checkboxes that tick their line and save at once,
// a draft kept in localStorage, a notice when the file changes on disk,
// and the composer that asks the agent for a proposal (a diff to apply
// or discard).
import { api, base, swap, debounce, follow, toast } from "./common.js";
import { lineDiff, renderDiff, mergeText } from "./diff.js";

const root = document.getElementById("doc-page");
const repo = root.dataset.repo;
const doc = root.dataset.doc;
const label = root.dataset.label;
const docPath = `/api/v1/repos/${encodeURIComponent(repo)}/docs/${doc}`;
const area = document.getElementById("text");
const preview = document.getElementById("preview");
const statusEl = document.getElementById("status");
const conflictEl = document.getElementById("conflict");
const disk = document.getElementById("disk");
const draftKey = `car-draft:${base}:${repo}:${doc}`;

// The version the editor is based on, and that version's text.
let etag = area.dataset.etag;
let saved = area.value;
let theirs = null; // the doc on disk when a conflict shows
let saving = false;

const dirty = () => area.value !== saved;
function setStatus(text) { statusEl.textContent = text; }

// --- views (a phone shows one pane at a time) ---------------------------
const panes = document.getElementById("panes");
function show(view) {
  panes.dataset.view = view;
  for (const b of document.querySelectorAll("[data-view]")) {
    if (b !== panes) b.setAttribute("aria-pressed", String(b.dataset.view === view));
  }
  if (view === "edit") area.focus();
}
for (const b of document.querySelectorAll("button[data-view]")) b.addEventListener("click", () => show(b.dataset.view));

// --- preview and draft ------------------------------------------------
async function renderPreview() {
  try {
    const resp = await fetch(`${base}/ui/fragments/repos/${encodeURIComponent(repo)}/preview`, {
      method: "POST", headers: { "Content-Type": "text/plain; charset=utf-8" }, body: area.value,
    });
    if (resp.status === 401) { location.reload(); return; }
    if (resp.ok) preview.innerHTML = await resp.text();
  } catch (e) { setStatus(`preview: ${e.message}`); }
}
const previewSoon = debounce(renderPreview, 250);

function keepDraft() {
  if (dirty()) localStorage.setItem(draftKey, JSON.stringify({ text: area.value, etag }));
  else localStorage.removeItem(draftKey);
}
area.addEventListener("input", () => { keepDraft(); previewSoon(); setStatus(dirty() ? "not saved" : ""); });

function restoreDraft() {
  let d = null;
  try { d = JSON.parse(localStorage.getItem(draftKey) || "null"); } catch { d = null; }
  if (!d || typeof d.text !== "string" || d.text === area.value) { localStorage.removeItem(draftKey); return; }
  area.value = d.text;
  if (d.etag !== etag) {
    // The draft was based on an older version: saving it shows both.
    etag = d.etag;
    saved = "\u0000";
  }
  setStatus("not saved");
  toast("your unsaved draft was restored");
  renderPreview();
}

// --- saving and conflicts ---------------------------------------------
async function put(text, ifMatch) {
  const resp = await fetch(base + docPath, {
    method: "PUT",
    headers: { "Content-Type": "application/json", Accept: "application/json", "If-Match": ifMatch },
    body: JSON.stringify({ text }),
  });
  const data = await resp.json().catch(() => null);
  return { status: resp.status, data };
}

function adopt(d) {
  etag = d.etag;
  saved = d.text;
}

async function save() {
  if (saving) return;
  saving = true;
  const text = area.value;
  setStatus("saving…");
  try {
    const { status, data } = await put(text, etag);
    if (status === 200) {
      adopt(data);
      if (area.value === text) localStorage.removeItem(draftKey);
      hideConflict();
      disk.hidden = true;
      setStatus("saved");
    } else if (status === 409 && data?.current) {
      setStatus("not saved: changed on disk");
      showConflict(data.current);
    } else {
      setStatus("not saved");
      toast(data?.error?.message || `save failed (${status})`, true);
    }
  } catch (e) {
    setStatus("not saved");
    toast(`save failed: ${e.message}`, true);
  } finally {
    saving = false;
  }
}

function showConflict(current) {
  theirs = current;
  keepDraft();
  document.getElementById("theirs").textContent = current.text;
  document.getElementById("mine").textContent = area.value;
  renderDiff(document.getElementById("conflict-diff"), lineDiff(current.text, area.value));
  conflictEl.hidden = false;
  disk.hidden = true;
  conflictEl.scrollIntoView({ block: "start" });
}
function hideConflict() { conflictEl.hidden = true; theirs = null; }

document.getElementById("keep-theirs").addEventListener("click", () => {
  if (!theirs) return;
  area.value = theirs.text;
  adopt(theirs);
  localStorage.removeItem(draftKey);
  hideConflict();
  setStatus("theirs kept");
  renderPreview();
});
document.getElementById("keep-mine").addEventListener("click", () => {
  if (!theirs) return;
  etag = theirs.etag;
  save();
});
document.getElementById("merge").addEventListener("click", () => {
  if (!theirs) return;
  area.value = mergeText(lineDiff(theirs.text, area.value));
  etag = theirs.etag;
  saved = theirs.text;
  keepDraft();
  hideConflict();
  show("edit");
  setStatus("merge: edit, then save");
  toast("both versions are in the editor between <<<<<<< and >>>>>>> marks: edit, then save");
  renderPreview();
});

document.getElementById("save").addEventListener("click", save);
area.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); save(); }
});

// A checkbox of the preview ticks its line in the text and saves.
preview.addEventListener("change", (e) => {
  const box = e.target.closest("input.tick");
  if (!box) return;
  const n = Number(box.dataset.line);
  const lines = area.value.split("\n");
  const line = lines[n];
  if (line === undefined || !/^(\s*(?:[-*+]|\d+[.)])\s+)\[[ xX]\]/.test(line)) {
    toast("that checkbox is no longer where it was: the preview is being refreshed", true);
    renderPreview();
    return;
  }
  lines[n] = line.replace(/^(\s*(?:[-*+]|\d+[.)])\s+)\[[ xX]\]/, `$1[${box.checked ? "x" : " "}]`);
  area.value = lines.join("\n");
  keepDraft();
  save();
});

// --- the file on disk -------------------------------------------------
let lastSeen = etag;
async function checkDisk() {
  if (document.hidden || !conflictEl.hidden || saving) return;
  let d;
  try { d = await api("GET", docPath); } catch { return; }
  if (d.etag === etag || d.etag === lastSeen) return;
  lastSeen = d.etag;
  if (!dirty()) {
    area.value = d.text;
    adopt(d);
    renderPreview();
    toast(`${label} was changed on disk: the new version is shown`);
    return;
  }
  theirs = d;
  document.getElementById("disk-text").textContent =
    `${label} changed on disk while you edit. Your text is kept; saving shows both versions.`;
  disk.hidden = false;
}
document.getElementById("compare").addEventListener("click", () => { if (theirs) showConflict(theirs); });
// The server tells each doc's version as it changes on disk (and all of
// them when the stream opens: a change between the page and the stream
// is not missed).
// The same stream tells each doc's chat request as its state changes: the
// proposal is fetched when it is ready, not asked for again and again.
follow(`/api/v1/repos/${encodeURIComponent(repo)}/docs/stream`, {
  doc: (v) => { if (v.doc === doc && v.etag !== etag && v.etag !== lastSeen) checkDisk(); },
  chat: (c) => {
    const p = proposal();
    if (c.doc === doc && (p.dataset.job !== c.job || p.dataset.state !== c.state)) refreshChat();
  },
});
document.addEventListener("visibilitychange", checkDisk);

// --- chat with the doc ------------------------------------------------
const chatFrag = `/ui/fragments/repos/${encodeURIComponent(repo)}/docs/${doc}/chat`;
const proposal = () => document.getElementById("proposal");
async function refreshChat() {
  try { await swap(chatFrag); } catch (e) { toast(e.message, true); }
}

async function ask(form) {
  const input = form.querySelector("textarea");
  const request = input.value.trim();
  if (!request) { toast("say what should change first", true); return; }
  const btn = form.querySelector("button");
  btn.disabled = true;
  try {
    await api("POST", `${docPath}/chat`, { request });
    input.value = "";
    await refreshChat();
  } catch (e) {
    toast(e.message, true);
  } finally {
    btn.disabled = false;
  }
}
document.getElementById("ask").addEventListener("submit", (e) => { e.preventDefault(); ask(e.target); });
document.getElementById("ask-text").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); ask(e.target.form); }
});

async function applyProposal(job) {
  if (dirty()) { toast("save or drop your edits first: the proposal replaces the whole doc", true); return; }
  const resp = await fetch(`${base}${docPath}/chat/${encodeURIComponent(job)}/apply`, {
    method: "POST", headers: { Accept: "application/json" },
  });
  const data = await resp.json().catch(() => null);
  if (resp.ok) {
    area.value = data.text;
    adopt(data);
    lastSeen = etag;
    localStorage.removeItem(draftKey);
    renderPreview();
    setStatus("saved");
    toast("the proposal was applied");
  } else if (resp.status === 409 && data?.current) {
    // The doc changed since the request: the proposal goes to the editor
    // and both versions show; the request is closed (its text is here).
    const chat = await api("GET", `${docPath}/chat/${encodeURIComponent(job)}`);
    area.value = chat.proposal;
    etag = chat.base_etag;
    saved = "\u0000";
    showConflict(data.current);
    await api("DELETE", `${docPath}/chat/${encodeURIComponent(job)}`).catch(() => {});
    renderPreview();
  } else {
    toast(data?.error?.message || `apply failed (${resp.status})`, true);
  }
}

document.getElementById("chat").addEventListener("click", async (e) => {
  const btn = e.target.closest("button[data-chat]");
  if (!btn) return;
  const job = proposal().dataset.job;
  btn.disabled = true;
  try {
    if (btn.dataset.chat === "apply") await applyProposal(job);
    else await api("DELETE", `${docPath}/chat/${encodeURIComponent(job)}`);
    await refreshChat();
  } catch (err) {
    toast(err.message, true);
  } finally {
    btn.disabled = false;
  }
});

restoreDraft();
