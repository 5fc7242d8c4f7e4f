// The hub page: the list follows every repository's events; start, stop,
// and a new worktree.
import { api, base, debounce, follow, localize, toast } from "./common.js";

// A row without its ages (they tick by themselves): two rows that read
// the same this way show the same state.
function same(a, b) {
  const bare = (el) => {
    const c = el.cloneNode(true);
    for (const t of c.querySelectorAll("[data-age]")) {
      t.removeAttribute("data-age");
      t.removeAttribute("data-from");
      t.textContent = "";
    }
    return c.outerHTML;
  };
  return bare(a) === bare(b);
}

// Fetches the list again and replaces only the rows that changed (a row
// replaced under a finger loses the tap), adds new ones, drops gone ones
// and keeps the order.
async function refreshList() {
  const resp = await fetch(`${base}/ui/fragments/repos`, { headers: { Accept: "text/html" } });
  if (resp.status === 401) { location.reload(); return; }
  if (!resp.ok) throw new Error(`the list: ${resp.status}`);
  const tpl = document.createElement("template");
  tpl.innerHTML = await resp.text();
  const fresh = tpl.content.getElementById("repos");
  const old = document.getElementById("repos");
  if (!fresh || !old) return;
  const counts = fresh.querySelector("#counts");
  const oldCounts = old.querySelector("#counts");
  if (counts && oldCounts && counts.textContent !== oldCounts.textContent) oldCounts.replaceWith(counts);
  const list = old.querySelector(".repo-list");
  const rows = [...fresh.querySelectorAll(".repo-list > li[data-id]")];
  if (!list || !rows.length || !list.querySelector(":scope > li[data-id]")) {
    old.replaceWith(fresh);
    localize(document);
    return;
  }
  const have = new Map([...list.querySelectorAll(":scope > li[data-id]")].map((li) => [li.dataset.id, li]));
  let at = null;
  for (const row of rows) {
    let li = have.get(row.dataset.id);
    have.delete(row.dataset.id);
    if (!li) li = row;
    else if (!same(li, row)) { li.replaceWith(row); li = row; }
    const next = at ? at.nextElementSibling : list.firstElementChild;
    if (next !== li) list.insertBefore(li, next);
    at = li;
  }
  for (const gone of have.values()) gone.remove();
  localize(list);
}

const refresh = debounce(() => refreshList().catch((e) => toast(e.message, true)), 200);

follow("/api/v1/stream", { event: refresh, open: refresh });

// The other machines' repositories: asked through their servers (up to a
// few seconds each), so fetched apart from the local list: at once, then
// every 30 s while the page is shown (their events do not come here).
const MACHINES_EVERY_MS = 30_000;
let machinesBusy = false;
async function refreshMachines() {
  const old = document.getElementById("machines");
  if (!old || machinesBusy || document.hidden) return;
  machinesBusy = true;
  try {
    const resp = await fetch(`${base}/ui/fragments/machines`, { headers: { Accept: "text/html" } });
    if (resp.status === 401) { location.reload(); return; }
    if (!resp.ok) throw new Error(`the machines: ${resp.status}`);
    const tpl = document.createElement("template");
    tpl.innerHTML = await resp.text();
    const fresh = tpl.content.getElementById("machines");
    if (!fresh) old.remove();
    else if (fresh.outerHTML !== old.outerHTML) old.replaceWith(fresh);
  } finally {
    machinesBusy = false;
  }
}
const machinesNow = () => refreshMachines().catch((e) => toast(e.message, true));
machinesNow();
setInterval(machinesNow, MACHINES_EVERY_MS);
document.addEventListener("visibilitychange", () => { if (!document.hidden) machinesNow(); });

document.addEventListener("click", async (e) => {
  const btn = e.target.closest("button[data-action]");
  if (!btn) return;
  const { action, id } = btn.dataset;
  btn.disabled = true;
  try {
    await api("POST", `/api/v1/repos/${encodeURIComponent(id)}/loop/${action}`);
    toast(action === "run" ? `${id}: started` : `${id}: stops after this run`);
    refresh();
  } catch (err) {
    toast(`${id}: ${err.message}`, true);
    btn.disabled = false;
  }
});

const form = document.getElementById("new-worktree");
form?.addEventListener("submit", async (e) => {
  e.preventDefault();
  const data = Object.fromEntries(new FormData(form));
  const body = { base: data.base, name: data.name.trim() };
  if (data.from.trim()) body.from = data.from.trim();
  const btn = form.querySelector("button");
  btn.disabled = true;
  try {
    const made = await api("POST", "/api/v1/worktrees", body);
    toast(`worktree ${made.id} made`);
    form.reset();
    refresh();
  } catch (err) {
    toast(err.message, true);
  } finally {
    btn.disabled = false;
  }
});
