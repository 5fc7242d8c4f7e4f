// The Tasks page: the composer (Ctrl/Cmd+Enter starts a task, then its
// page opens), the task shown with its live output (GET
// /api/v1/tasks/{id}/stream from where the page's lines end; follows,
// pauses when scrolled up, copy), cancel with a confirm, a reply once it
// is over (a new turn, followed in turn); the task's head and the history
// are fetched again when the repository's stream tells of a task.
import { api, base, swap, debounce, follow, onSubmit, toast } from "./common.js";
import { logView, STREAMS } from "./logview.js";
import { showAll, finalAll } from "./showall.js";

const head = document.getElementById("repo");
const id = head.dataset.id;
const task = head.dataset.task;
const taskPath = `/api/v1/tasks/${encodeURIComponent(task)}`;

// A typed reply is kept while the task's state and turns stay the same.
const keep = (old, fresh) =>
  old.id === "task-head" && old.dataset.state === fresh.dataset.state && old.dataset.turns === fresh.dataset.turns;
const refresh = debounce(() => {
  const q = new URLSearchParams({ offset: head.dataset.offset || "0" });
  if (task) q.set("task", task);
  swap(`/ui/fragments/repos/${encodeURIComponent(id)}/tasks?${q}`, keep).catch((e) => toast(e.message, true));
}, 150);

// --- the task shown ---------------------------------------------------------
let stream = null;
// Opens the task's stream from where its lines shown end.
let open = () => {};

follow(`/api/v1/repos/${encodeURIComponent(id)}/stream`, {
  event: (ev) => {
    if (!String(ev.type).startsWith("task_")) return;
    // A reply from elsewhere (another page, `car task reply`): follow its turn.
    if (ev.type === "task_reply" && ev.task_id === task && !stream) open();
    refresh();
  },
  open: refresh,
});

if (task) {
  const out = document.getElementById("output");
  const view = logView(out, document.getElementById("jump"), document.getElementById("copy"));
  showAll(document.getElementById("show-all"), `${taskPath}/output`, view);
  let end = Number(out.dataset.end) || 0;

  open = () => {
    stream?.close();
    stream = new EventSource(`${base}${taskPath}/stream?offset=${end}`);
    stream.addEventListener("log", (e) => {
      const l = JSON.parse(e.data);
      view.append([{ kind: STREAMS[l.stream] || "out", text: l.line }]);
      if (e.lastEventId) end = Number(e.lastEventId);
    });
    stream.addEventListener("status", (e) => {
      const s = JSON.parse(e.data);
      const badge = document.getElementById("task-state");
      if (badge && badge.textContent !== s.state) refresh();
    });
    stream.addEventListener("done", () => {
      // The turn is over and all its output came: a reply opens another.
      stream.close();
      stream = null;
      refresh();
    });
  };
  open();

  document.addEventListener("click", async (e) => {
    const btn = e.target.closest("#cancel");
    if (!btn) return;
    if (!confirm("Cancel this task, stopping its agent?")) return;
    btn.disabled = true;
    try {
      await api("DELETE", taskPath);
      toast("task cancelled");
      refresh();
    } catch (err) {
      btn.disabled = false;
      toast(err.message, true);
    }
  });

  async function reply(form) {
    const area = form.querySelector("textarea");
    const message = area.value.trim();
    if (!message) { toast("write a reply first", true); return; }
    const btn = form.querySelector("button");
    btn.disabled = true;
    try {
      await api("POST", `${taskPath}/reply`, { message });
      area.value = "";
      toast("replied: the task goes on");
      open();
      refresh();
    } catch (err) {
      toast(err.message, true);
    } finally {
      btn.disabled = false;
    }
  }
  onSubmit("reply", reply);
}

// --- the composer -----------------------------------------------------------
finalAll();
const compose = document.getElementById("compose");
let starting = false;
async function start() {
  if (starting) return;
  const data = new FormData(compose);
  const prompt = String(data.get("prompt") || "").trim();
  if (!prompt) { toast("write a prompt first", true); return; }
  const body = { prompt, repo: String(data.get("repo") || id) };
  const model = String(data.get("model") || "").trim();
  if (model) body.model = model;
  starting = true;
  const btn = compose.querySelector("button[type=submit]");
  btn.disabled = true;
  try {
    const t = await api("POST", "/api/v1/tasks", body);
    location.assign(`${base}/repos/${encodeURIComponent(t.repo)}/tasks/${encodeURIComponent(t.task_id)}`);
  } catch (err) {
    toast(err.message, true);
    btn.disabled = false;
    starting = false;
  }
}
onSubmit("compose", start);
