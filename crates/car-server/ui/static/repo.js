// A repository's dashboard: live output (follows; pauses when scrolled
// up; copy), the state and timeline fetched again on events, the loop's
// controls, and the answer to the agent's question (reply + resume).
import { api, swap, debounce, follow, onSubmit, toast } from "./common.js";
import { logView, parseLine } from "./logview.js";

const id = document.getElementById("repo").dataset.id;
const path = `/api/v1/repos/${encodeURIComponent(id)}`;
const out = document.getElementById("output");
const jump = document.getElementById("jump");

// --- output -------------------------------------------------------------
const view = logView(out, jump, document.getElementById("copy"));
let run = Number(out.dataset.run) || 0;
let end = Number(out.dataset.end) || 0;
const queue = [];
let draining = false;

function append(raws) {
  view.append(raws.map(parseLine));
}

function newRun(id) {
  run = id;
  end = 0;
  const label = document.getElementById("output-run");
  if (label) label.textContent = `run #${id}`;
}

// Lines come in order; one after a gap (the page was made, then the
// stream opened) waits until the missing bytes are fetched.
async function drain() {
  if (draining) return;
  draining = true;
  try {
    while (queue.length) {
      const l = queue.shift();
      if (l.run_id !== run) {
        if (l.run_id < run) continue;
        newRun(l.run_id);
      }
      if (l.offset < end) continue;
      if (l.offset > end) {
        const slice = await api("GET", `${path}/runs/${run}/output?offset=${end}&limit=${l.offset - end}`);
        const text = slice.text.endsWith("\n") ? slice.text.slice(0, -1) : slice.text;
        if (text) append(text.split("\n"));
      }
      append([l.line]);
      end = l.offset + new TextEncoder().encode(l.line).length + 1;
    }
  } catch (e) {
    toast(`output: ${e.message}`, true);
  } finally {
    draining = false;
  }
}

// --- state, timeline, question ----------------------------------------
const sameQuestion = (old, fresh) => old.id === "question" && old.dataset.q === fresh.dataset.q;
const refresh = debounce(
  () => swap(`/ui/fragments/repos/${encodeURIComponent(id)}`, sameQuestion).catch((e) => toast(e.message, true)),
  150,
);

follow(`${path}/stream`, {
  output: (line) => { queue.push(line); drain(); },
  event: refresh,
  open: refresh,
});

// --- controls ---------------------------------------------------------------
const said = {
  run: "loop started", once: "one run started", resume: "loop resumed",
  stop: "the loop stops after this run", kill: "loop stopped",
};
document.addEventListener("click", async (e) => {
  const btn = e.target.closest("button[data-action]");
  if (!btn) return;
  if (btn.dataset.confirm && !confirm(btn.dataset.confirm)) return;
  btn.disabled = true;
  try {
    await api("POST", `${path}/loop/${btn.dataset.action}`);
    toast(said[btn.dataset.action]);
    refresh();
  } catch (err) {
    toast(err.message, true);
  } finally {
    btn.disabled = false;
  }
});

async function answer(form) {
  const area = form.querySelector("textarea");
  const text = area.value.trim();
  if (!text) { toast("write an answer first", true); return; }
  const btn = form.querySelector("button");
  btn.disabled = true;
  try {
    await api("POST", `${path}/reply`, { text });
    await api("POST", `${path}/loop/resume`);
    area.value = "";
    toast("answered: the loop goes on");
    refresh();
  } catch (err) {
    toast(err.message, true);
  } finally {
    btn.disabled = false;
  }
}
onSubmit("answer", answer);
