// Voice input, bring your own key: the microphone button of a composer
// (`data-voice-for` = its textarea, `data-voice-repo` = the repository)
// records with MediaRecorder (press to start, press again to stop, the
// elapsed time shown), posts the audio to the server, which forwards it to
// the configured transcription endpoint, and inserts the text at the
// textarea's cursor. The server renders the button only when voice is
// configured (its key variable is set).
import { base, toast } from "./common.js";

/** A forgotten recording stops by itself after this long. */
const MAX_MS = 5 * 60 * 1000;
const TYPES = ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"];

/** The recording in progress: { button, recorder, stream, chunks, started, timer }. */
let active = null;

function stateOf(button) {
  return button.parentElement ? button.parentElement.querySelector(".voice-state") : null;
}

function show(button, mode, text) {
  button.dataset.mode = mode;
  button.setAttribute("aria-pressed", mode === "recording" ? "true" : "false");
  const label = button.querySelector(".mic-label");
  if (label) label.textContent = mode === "recording" ? "Stop" : mode === "sending" ? "Transcribing…" : "Voice";
  button.disabled = mode === "sending";
  const s = stateOf(button);
  if (s) s.textContent = text || "";
}

function clock(ms) {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

async function start(button) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.MediaRecorder) {
    toast("this browser cannot record audio here (it needs https or localhost)", true);
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (e) {
    toast(`no microphone: ${e.message || e.name}`, true);
    return;
  }
  const type = TYPES.find((t) => MediaRecorder.isTypeSupported(t));
  const recorder = type ? new MediaRecorder(stream, { mimeType: type }) : new MediaRecorder(stream);
  const rec = { button, recorder, stream, chunks: [], started: Date.now(), timer: 0 };
  recorder.addEventListener("dataavailable", (e) => { if (e.data && e.data.size) rec.chunks.push(e.data); });
  recorder.addEventListener("stop", () => finish(rec));
  recorder.start(250);
  active = rec;
  show(button, "recording", "● recording 0:00");
  rec.timer = setInterval(() => {
    const ms = Date.now() - rec.started;
    const s = stateOf(rec.button);
    if (s) s.textContent = `● recording ${clock(ms)}`;
    if (ms > MAX_MS) stop(rec);
  }, 250);
}

function stop(rec) {
  clearInterval(rec.timer);
  if (active === rec) active = null;
  if (rec.recorder.state !== "inactive") rec.recorder.stop();
  for (const t of rec.stream.getTracks()) t.stop();
}

async function finish(rec) {
  const { button } = rec;
  const type = rec.recorder.mimeType || (rec.chunks[0] && rec.chunks[0].type) || "audio/webm";
  const blob = new Blob(rec.chunks, { type });
  if (!blob.size) {
    show(button, "idle", "");
    toast("nothing was recorded", true);
    return;
  }
  show(button, "sending", "transcribing…");
  try {
    const text = await transcribe(button.dataset.voiceRepo, blob, type);
    insert(document.getElementById(button.dataset.voiceFor), text);
    show(button, "idle", text ? "" : "no speech was heard");
  } catch (e) {
    show(button, "idle", "");
    toast(e.message, true);
  }
}

/** Posts a recording; returns its text or throws the server's message. */
export async function transcribe(repo, blob, type) {
  const resp = await fetch(`${base}/api/v1/repos/${encodeURIComponent(repo)}/voice/transcribe`, {
    method: "POST",
    headers: { "Content-Type": type, Accept: "application/json" },
    body: blob,
  });
  let data = null;
  try { data = await resp.json(); } catch { data = null; }
  if (!resp.ok) {
    throw new Error(data && data.error ? data.error.message : `voice: ${resp.status} ${resp.statusText}`);
  }
  return data && typeof data.text === "string" ? data.text : "";
}

/** Puts `text` at the cursor of `area` (replacing a selection), with a
 *  space before it when it would touch a word. */
export function insert(area, text) {
  if (!area || !text) return;
  const from = area.selectionStart ?? area.value.length;
  const to = area.selectionEnd ?? from;
  const before = area.value.slice(0, from);
  const piece = (before && !/\s$/.test(before) ? " " : "") + text;
  area.setRangeText(piece, from, to, "end");
  area.dispatchEvent(new Event("input", { bubbles: true }));
  area.focus();
}

document.addEventListener("click", (e) => {
  const button = e.target.closest ? e.target.closest("[data-voice-for]") : null;
  if (!button) return;
  e.preventDefault();
  if (active && active.button === button) stop(active);
  else if (active) toast("a recording is on: stop it first", true);
  else start(button);
});
