// A repository's snapshot page: Generate / Update (incremental) and
// Regenerate from scratch start the agent as a job (a command of the
// repository); its output is followed on the command's log stream until
// its `done` event (the job's id stays in the address: a reload goes on
// following it), then the snapshot is fetched again. Copy puts it on the
// clipboard.
import { api, follow as stream, swap, toast } from "./common.js";

const id = document.getElementById("repo").dataset.id;
const path = `/api/v1/repos/${encodeURIComponent(id)}`;
const box = document.getElementById("job");
const stateEl = document.getElementById("job-state");
const log = document.getElementById("job-log");
const buttons = [...document.querySelectorAll("button[data-snapshot]")];

function busy(on) { for (const b of buttons) b.disabled = on; }

function show(job, startedAt) {
  box.hidden = false;
  const secs = Math.round((Date.now() - startedAt) / 1000);
  const what = {
    queued: "starting", running: `the agent is writing the snapshot (${secs} s)`,
    succeeded: "done: the snapshot is below", failed: "failed", cancelled: "cancelled",
  }[job.state] || job.state;
  stateEl.textContent = `Snapshot job ${job.job_id}: ${what}${job.exit_code != null && job.state !== "succeeded" ? ` (exit code ${job.exit_code})` : ""}`;
  const text = [job.stderr, job.stdout].filter(Boolean).join("\n").trim();
  log.hidden = !text;
  log.textContent = text.split("\n").slice(-200).join("\n");
  log.scrollTop = log.scrollHeight;
}

/** Resolves when job `job`'s stderr stream (car's progress) ends with its
 *  `done` event, calling `opened` when the stream opens and `line` with
 *  each line; the browser reconnects a dropped stream where it stopped. */
function untilDone(job, opened, line) {
  return new Promise((resolve, reject) => {
    const es = stream(`/api/v1/execs/${encodeURIComponent(job)}/logs/stream?stream=stderr`, {
      open: opened,
      log: (d) => line(d.line),
      done: (d) => { es.close(); resolve(d); },
    });
    // An answer that is no stream (the job is gone, the session ended).
    es.addEventListener("error", () => {
      if (es.readyState === EventSource.CLOSED) reject(new Error("the job's stream was refused"));
    });
  });
}

async function follow(job) {
  const url = new URL(location.href);
  url.searchParams.set("job", job);
  history.replaceState(null, "", url);
  busy(true);
  const startedAt = Date.now();
  let r = { job_id: job, state: "queued" };
  const lines = [];
  show(r, startedAt);
  // The elapsed time goes on between lines.
  const tick = setInterval(() => show(r, startedAt), 1000);
  try {
    const running = () => { r = { ...r, state: r.state === "queued" ? "running" : r.state }; show(r, startedAt); };
    await untilDone(job, running, (l) => {
      lines.push(l);
      r = { ...r, state: "running", stderr: lines.slice(-200).join("\n") };
      show(r, startedAt);
    });
    r = await api("GET", `${path}/jobs/${encodeURIComponent(job)}`);
    show(r, startedAt);
    if (r.state === "succeeded") {
      await swap(`/ui/fragments/repos/${encodeURIComponent(id)}/snapshot`);
      document.getElementById("snap-update").textContent = "Update";
      toast("snapshot written");
    } else {
      toast(`the snapshot job ${r.state}: see its output`, true);
    }
  } catch (e) {
    toast(`snapshot: ${e.message}`, true);
  } finally {
    clearInterval(tick);
    busy(false);
    url.searchParams.delete("job");
    history.replaceState(null, "", url);
  }
}

/** Shows the snapshot as its Markdown text (true) or rendered (false). */
function showText(on) {
  const pre = document.getElementById("snapshot-text");
  const html = document.getElementById("snapshot-html");
  const btn = document.getElementById("as-text");
  if (!pre || !html || !btn) return;
  pre.hidden = !on;
  html.hidden = on;
  btn.setAttribute("aria-pressed", String(on));
}

document.addEventListener("click", async (e) => {
  const btn = e.target.closest("button[data-snapshot]");
  if (btn) {
    busy(true);
    try {
      const body = btn.dataset.snapshot === "scratch" ? { from_scratch: true } : {};
      const started = await api("POST", `${path}/snapshot`, body);
      await follow(started.job_id);
    } catch (err) {
      toast(err.message, true);
      busy(false);
    }
    return;
  }
  if (e.target.closest("#as-text")) {
    showText(document.getElementById("as-text").getAttribute("aria-pressed") !== "true");
    return;
  }
  if (e.target.closest("#copy")) {
    const pre = document.getElementById("snapshot-text");
    if (!pre) return;
    try {
      await navigator.clipboard.writeText(pre.textContent);
      toast("snapshot copied");
    } catch {
      // Without clipboard access the text is selected for the device's copy.
      showText(true);
      const range = document.createRange();
      range.selectNodeContents(pre);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      toast("snapshot selected: copy it with your device's copy");
    }
  }
});

const pending = new URL(location.href).searchParams.get("job");
if (pending) follow(pending);
