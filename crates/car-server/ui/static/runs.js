// The Runs pages. The list follows the repository's stream and is
// fetched again when a run starts or ends (on its newest page). A run's
// page: its output (the tail first, "Show all" fetches the rest; follows,
// pauses when scrolled up, copy), live while the run is at work, and
// made again once the run ends (its record, diffs and final message).
import { api, swap, debounce, follow, toast } from "./common.js";
import { parseLine, logView } from "./logview.js";
import { showAll, finalAll } from "./showall.js";

const head = document.getElementById("repo");
const id = head.dataset.id;
const path = `/api/v1/repos/${encodeURIComponent(id)}`;

/** Times with their date, in the reader's time zone. */
function dates(root) {
  for (const el of root.querySelectorAll(".when[data-ts]")) {
    const d = new Date(el.dataset.ts);
    if (!isNaN(d)) {
      el.textContent = d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
      el.title = d.toLocaleString();
    }
  }
}
dates(document);
finalAll();

const run = Number(head.dataset.run) || 0;
if (!run) {
  // --- the list -------------------------------------------------------------
  const newest = !head.dataset.before;
  const refresh = debounce(() => {
    swap(`/ui/fragments/repos/${encodeURIComponent(id)}/runs`)
      .then(() => dates(document))
      .catch((e) => toast(e.message, true));
  }, 200);
  follow(`${path}/stream`, {
    event: (ev) => { if (newest && /^run_(started|finished)$/.test(ev.type)) refresh(); },
    open: () => { if (newest) refresh(); },
  });
} else {
  // --- one run --------------------------------------------------------------
  const out = document.getElementById("output");
  const view = logView(out, document.getElementById("jump"), document.getElementById("copy"));
  let end = Number(out.dataset.end) || 0;
  const running = head.dataset.outcome === "running";
  const queue = [];
  let draining = false;

  // Lines come in order; one after a gap (the page was made, then the
  // stream opened) waits until the missing bytes are fetched.
  const drain = async () => {
    if (draining) return;
    draining = true;
    try {
      while (queue.length) {
        const l = queue.shift();
        if (l.offset < end) continue;
        if (l.offset > end) {
          const slice = await api("GET", `${path}/runs/${run}/output?offset=${end}&limit=${l.offset - end}`);
          const text = slice.text.endsWith("\n") ? slice.text.slice(0, -1) : slice.text;
          if (text) view.append(text.split("\n").map(parseLine));
        }
        view.append([parseLine(l.line)]);
        end = l.offset + new TextEncoder().encode(l.line).length + 1;
      }
    } catch (e) {
      toast(`output: ${e.message}`, true);
    } finally {
      draining = false;
    }
  };
  follow(`${path}/stream`, {
    output: (l) => { if (running && l.run_id === run) { queue.push(l); drain(); } },
    event: (ev) => { if (running && ev.type === "run_finished" && ev.run_id === run) location.reload(); },
  });

  showAll(document.getElementById("show-all"), `${path}/runs/${run}/output`, view);
}
