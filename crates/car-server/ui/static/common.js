// What the pages' scripts share: the JSON API, fragments, live streams,
// messages, ages and times for people, and the service worker.

export const base = document.body.dataset.base || "";

/** Calls the JSON API; throws an Error with the server's message. */
export async function api(method, path, body) {
  const opts = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(base + path, opts);
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!resp.ok) {
    const msg = data && data.error ? data.error.message : `${resp.status} ${resp.statusText}`;
    throw new Error(msg);
  }
  return data;
}

/** Fetches an HTML fragment and puts each of its elements with an id in
 *  place of the page's element with that id (`keep(old, new)` true
 *  leaves one as it is). */
export async function swap(path, keep) {
  const resp = await fetch(base + path, { headers: { Accept: "text/html" } });
  if (resp.status === 401) { location.reload(); return; }
  if (!resp.ok) throw new Error(`${path}: ${resp.status}`);
  const tpl = document.createElement("template");
  tpl.innerHTML = await resp.text();
  for (const fresh of tpl.content.querySelectorAll("[id]")) {
    const old = document.getElementById(fresh.id);
    if (!old || fresh.parentElement?.closest("[id]")) continue;
    if (keep && keep(old, fresh)) continue;
    old.replaceWith(fresh);
  }
  localize(document);
}

/** Calls `f` once `ms` after the last of a burst of calls. */
export function debounce(f, ms) {
  let t = 0;
  return () => { clearTimeout(t); t = setTimeout(f, ms); };
}

/** Follows a server-sent event stream; the dot with id `live` says
 *  whether it is connected (EventSource reconnects by itself). */
export function follow(path, handlers) {
  const es = new EventSource(base + path);
  const dot = document.getElementById("live");
  es.onopen = () => { dot?.classList.add("on"); handlers.open?.(); };
  es.onerror = () => dot?.classList.remove("on");
  for (const [name, f] of Object.entries(handlers)) {
    if (name !== "open") es.addEventListener(name, (e) => f(JSON.parse(e.data), e));
  }
  return es;
}

/** Calls `send(form)` when form `#formId` is submitted or Ctrl/Cmd+Enter
 *  is pressed in it (the form is found again each time: fragments may
 *  replace it). */
export function onSubmit(formId, send) {
  document.addEventListener("submit", (e) => {
    if (e.target.id !== formId) return;
    e.preventDefault();
    send(e.target);
  });
  document.addEventListener("keydown", (e) => {
    const form = e.target.closest?.(`#${formId}`);
    if (form && e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      send(form);
    }
  });
}

let toastTimer = 0;
/** Shows a short message (errors stay longer). */
export function toast(msg, isError) {
  const el = document.getElementById("toast");
  if (!el) return;
  el.textContent = msg;
  el.classList.toggle("error", !!isError);
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, isError ? 8000 : 3000);
}

/** A number of seconds as a short age. */
export function age(s) {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** Times in the reader's time zone; ages that go on counting. */
export function localize(root) {
  const now = Date.now();
  for (const t of root.querySelectorAll("time[datetime]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) { t.textContent = d.toLocaleTimeString(); t.title = d.toLocaleString(); }
  }
  for (const a of root.querySelectorAll("[data-age]")) {
    if (!a.dataset.from) a.dataset.from = String(now - Number(a.dataset.age) * 1000);
  }
}

function tick() {
  const now = Date.now();
  for (const a of document.querySelectorAll("[data-from]")) {
    a.textContent = age(Math.max(0, Math.round((now - Number(a.dataset.from)) / 1000)));
  }
}

localize(document);
setInterval(tick, 1000);
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register(base + "/sw.js", { scope: base + "/" }).catch(() => {});
}
