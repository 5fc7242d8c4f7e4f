// The hub page: the list follows every repository's events; start, stop,
// and a new worktree.
import { api, swap, debounce, follow, toast } from "./common.js";

const refresh = debounce(() => swap("/ui/fragments/repos").catch((e) => toast(e.message, true)), 200);

follow("/api/v1/stream", { event: refresh, open: refresh });

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
