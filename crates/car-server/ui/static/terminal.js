// A repository's terminal page: the sessions (New session, Stop, the list
// refreshed every few seconds) and, when one is attached, its PTY drawn by
// xterm.js over the session's WebSocket: output as binary frames (the
// recent output first, so a reattach redraws), input sent as binary
// frames, `{"resize": {cols, rows}}` after every fit (window resize, phone
// rotation). A dropped socket reconnects (the session goes on on the
// server); the end of the process closes with 1000 and its exit.
// xterm.js (vendored, ~90 KB gzipped) is imported only when a session is
// attached: the list of sessions needs none of it.
import { api, base, swap, toast } from "./common.js";

const id = document.getElementById("repo").dataset.id;
const path = `/api/v1/repos/${encodeURIComponent(id)}/terminals`;
const card = document.getElementById("term-card");
const cap = Number(document.getElementById("sessions-card").dataset.cap) || 1;
const attached = card.dataset.attach || "";
const stateEl = document.getElementById("term-state");
const dot = document.getElementById("live");

const listPath = () => `/ui/fragments/repos/${encodeURIComponent(id)}/terminals?session=${encodeURIComponent(attached)}`;
const refresh = () => swap(listPath()).catch((e) => toast(e.message, true));
setInterval(refresh, 5000);

// --- sessions ---------------------------------------------------------------
let term = null;
let fit = null;

document.getElementById("new-session").addEventListener("click", async (e) => {
  const btn = e.currentTarget;
  btn.disabled = true;
  try {
    // At the cap, say so without asking for a session the server would refuse.
    const open = (await api("GET", path)).terminals.filter((t) => t.status === "running").length;
    if (open >= cap) {
      toast(`no new session: ${open} are open, the most this repository allows (server.terminal.max_sessions_per_repo: ${cap}); stop one first`, true);
      refresh();
      btn.disabled = false;
      return;
    }
    const size = fit?.proposeDimensions();
    const body = size && size.cols && size.rows ? { cols: size.cols, rows: size.rows } : {};
    const s = await api("POST", path, body);
    location.assign(`${location.pathname}?session=${encodeURIComponent(s.id)}`);
  } catch (err) {
    toast(`no new session: ${err.message}`, true);
    btn.disabled = false;
  }
});

document.addEventListener("click", async (e) => {
  const btn = e.target.closest("button[data-stop]");
  if (!btn) return;
  const tid = btn.dataset.stop;
  if (!confirm(`Stop terminal session ${tid}? Its processes are killed.`)) return;
  btn.disabled = true;
  try {
    await api("DELETE", `${path}/${encodeURIComponent(tid)}`);
    toast(`session ${tid} stopped`);
  } catch (err) {
    toast(err.message, true);
  }
  refresh();
});

// --- the attached session -------------------------------------------------
const KEYS = {
  esc: "\x1b", tab: "\t", "ctrl-c": "\x03", "ctrl-d": "\x04", enter: "\r",
  up: "\x1b[A", down: "\x1b[B", right: "\x1b[C", left: "\x1b[D",
};
const enc = new TextEncoder();
let ws = null;
let ended = false;
let retry = 0;

function say(text) { stateEl.textContent = text; }

function send(data) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(typeof data === "string" ? enc.encode(data) : data);
}

function sendSize() {
  if (ws && ws.readyState === WebSocket.OPEN && term) {
    ws.send(JSON.stringify({ resize: { cols: term.cols, rows: term.rows } }));
  }
}

function refit() {
  if (!fit) return;
  const before = term.cols + "x" + term.rows;
  try { fit.fit(); } catch { return; }
  if (term.cols + "x" + term.rows !== before) sendSize();
}

function connect() {
  const url = new URL(`${base}${path}/${encodeURIComponent(attached)}/ws`, location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const sock = new WebSocket(url, ["car.v1"]);
  sock.binaryType = "arraybuffer";
  let first = true;
  sock.onopen = () => {
    retry = 0;
    dot?.classList.add("on");
    say("attached");
    sendSize();
  };
  sock.onmessage = (m) => {
    // The first frame is the recent output: a reattached terminal starts
    // again from it instead of drawing it twice.
    if (first) { term.reset(); first = false; }
    term.write(typeof m.data === "string" ? m.data : new Uint8Array(m.data));
  };
  sock.onclose = (c) => {
    dot?.classList.remove("on");
    if (ws !== sock) return;
    if (c.code === 1000) {
      ended = true;
      say(`ended: ${c.reason || "exit"}`);
      term.write(`\r\n\x1b[2m[session ended: ${c.reason || "exit"}]\x1b[0m\r\n`);
      refresh();
      return;
    }
    reconnect(c.code === 1001 ? "the server is restarting" : "connection lost");
  };
  ws = sock;
}

async function reconnect(why) {
  if (ended) return;
  retry += 1;
  const wait = Math.min(10000, 500 * 2 ** Math.min(retry, 5));
  say(`${why}: reconnecting in ${Math.round(wait / 1000)} s`);
  await new Promise((r) => setTimeout(r, wait));
  // A session that ended meanwhile is not reconnected to.
  try {
    const list = await api("GET", path);
    const s = list.terminals.find((t) => t.id === attached);
    if (!s || s.status !== "running") {
      ended = true;
      say(`ended${s && s.end_reason ? `: ${s.end_reason.replace(/_/g, " ")}` : ""}`);
      refresh();
      return;
    }
  } catch {
    // The server is unreachable: try again later.
  }
  connect();
}

if (attached) {
  const [{ Terminal }, { FitAddon }] = await Promise.all([import("./xterm.js"), import("./addon-fit.js")]);
  term = new Terminal({
    cursorBlink: true,
    fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace',
    fontSize: 14,
    scrollback: 5000,
  });
  fit = new FitAddon();
  term.loadAddon(fit);
  term.open(document.getElementById("term"));
  fit.fit();
  term.onData((d) => send(d));
  term.onBinary((d) => send(Uint8Array.from(d, (c) => c.charCodeAt(0))));
  new ResizeObserver(() => refit()).observe(document.getElementById("term"));
  addEventListener("orientationchange", () => setTimeout(refit, 200));
  for (const btn of card.querySelectorAll("button[data-key]")) {
    // Keep the focus (and a phone's keyboard) in the terminal.
    btn.addEventListener("mousedown", (e) => e.preventDefault());
    btn.addEventListener("click", () => { send(KEYS[btn.dataset.key]); term.focus(); });
  }
  say("connecting");
  connect();
  term.focus();
}
