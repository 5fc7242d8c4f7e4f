// The Docs page: edit with a live preview and save with Ctrl+Enter; tick
// a TODO checkbox in the preview (saved at once); the file changed behind
// the page's back while editing: saving shows theirs and yours with a
// diff, the text stays in the editor and in the draft across a reload,
// and "keep mine" writes it; then the agent's proposal shown as a diff
// and applied. CAR_FLOW_TODO names the TODO file on disk.
import { writeFileSync } from "node:fs";
import { run, signIn, SIZES, shot } from "./lib.mjs";

const todoFile = process.env.CAR_FLOW_TODO;

await run(async ({ base, link, out: dir, page, errors }) => {
  const p = await page(SIZES.desk);
  await signIn(p, link, base);
  const id = await p.getAttribute(".repo", "data-id");
  await p.goto(`${base}repos/${id}/docs/todo`);
  const out = {};

  // Edit: the preview follows; Ctrl+Enter saves.
  await p.fill("#text", "# Plan\n\n- [ ] one\n- [ ] two\n");
  await p.waitForFunction(() => document.querySelectorAll("#preview input.tick").length === 2);
  out.preview_heading = await p.textContent("#preview h1");
  await p.press("#text", "Control+Enter");
  await p.waitForFunction(() => document.getElementById("status").textContent === "saved");

  // Tick the second item in the preview: saved at once.
  await p.click('#preview input.tick[data-line="3"]');
  await p.waitForFunction(() => document.getElementById("text").value.includes("- [x] two")
    && document.getElementById("status").textContent === "saved");
  out.after_tick = await p.evaluate(async (path) => (await (await fetch(path)).json()).text,
    `${base}api/v1/repos/${id}/docs/todo`);

  // A change of mine, then the agent's behind the page's back; save.
  const mine = "# Plan\n\n- [ ] one\n- [x] two\n- [ ] mine\n";
  const theirs = "# Plan\n\n- [x] one\n- [x] two\n";
  await p.fill("#text", mine);
  writeFileSync(todoFile, theirs);
  await p.click("#save");
  await p.waitForSelector("#conflict:not([hidden])");
  out.conflict = {
    theirs: await p.textContent("#theirs"),
    mine: await p.textContent("#mine"),
    added: await p.$$eval("#conflict-diff .d.add", (ds) => ds.map((d) => d.textContent)),
    removed: await p.$$eval("#conflict-diff .d.del", (ds) => ds.map((d) => d.textContent)),
    editor: await p.inputValue("#text"),
  };
  await shot(p, `${dir}/docs-conflict-desk.png`);
  // A reload loses nothing: the draft comes back.
  await p.reload();
  await p.waitForFunction((m) => document.getElementById("text").value === m, mine);
  out.draft_restored = true;
  // Saving the restored draft shows both again; keep mine writes it.
  await p.press("#text", "Control+Enter");
  await p.waitForSelector("#conflict:not([hidden])");
  await p.click("#keep-mine");
  await p.waitForFunction(() => document.getElementById("status").textContent === "saved");
  await p.waitForSelector("#conflict[hidden]", { state: "attached" });
  out.after_keep_mine = await p.evaluate(async (path) => (await (await fetch(path)).json()).text,
    `${base}api/v1/repos/${id}/docs/todo`);

  // Ask the agent (on a phone): the proposal shows as a diff; apply it.
  await p.setViewportSize(SIZES.mobile);
  await p.fill("#ask-text", "tick one and add three");
  await p.press("#ask-text", "Control+Enter");
  await p.waitForSelector('#proposal[data-state="ready"]', { timeout: 60000 });
  await shot(p, `${dir}/docs-proposal-mobile.png`);
  out.proposal_added = await p.$$eval("#proposal .d.add", (ds) => ds.map((d) => d.textContent));
  out.proposal_removed = await p.$$eval("#proposal .d.del", (ds) => ds.map((d) => d.textContent));
  await p.click('#proposal button[data-chat="apply"]');
  await p.waitForFunction(() => document.getElementById("proposal").dataset.state === "");
  out.editor_after_apply = await p.inputValue("#text");
  // The browser logs each 409 answer (the two conflicts made above) as a
  // console error: those are expected; any other error still fails.
  const conflicts = errors.filter((e) => e.includes("status of 409 (Conflict)"));
  errors.splice(0, errors.length, ...errors.filter((e) => !conflicts.includes(e)));
  out.conflict_answers = conflicts.length;
  return out;
});
