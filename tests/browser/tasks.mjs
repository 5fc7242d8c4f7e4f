// The Tasks page: compose a task (Ctrl+Enter), see its lines stream in,
// its exit in the history, reply to continue it (Ctrl+Enter), then start a
// long one and cancel it (confirmed).
import { writeFileSync } from "node:fs";
import { run, signIn, live, SIZES } from "./lib.mjs";

await run(async ({ base, link, page }) => {
  const p = await page(SIZES.mobile);
  p.on("dialog", (d) => d.accept());
  await signIn(p, link, base);
  const id = process.env.CAR_FLOW_REPO || (await p.getAttribute(".repo", "data-id"));
  await p.goto(`${base}repos/${id}/tasks`);
  await live(p);
  const model = await p.inputValue("#task-model");

  const compose = async (prompt) => {
    await p.fill("#task-prompt", prompt);
    const from = p.url();
    await Promise.all([
      p.waitForURL((u) => /\/tasks\/t-[^/]+$/.test(u.pathname) && u.href !== from),
      p.press("#task-prompt", "Control+Enter"),
    ]);
    await live(p);
    return p.url().split("/").pop();
  };
  const text = () => p.$$eval("#output .l", (ls) => ls.map((l) => `${l.className.replace("l ", "")}: ${l.textContent}`));

  // 1: its lines come one by one while the page is open.
  const first = await compose("Count the files");
  await p.evaluate(() => {
    window.__added = [];
    new MutationObserver((muts) => {
      for (const m of muts) for (const n of m.addedNodes) window.__added.push(n.textContent);
    }).observe(document.getElementById("output"), { childList: true });
  });
  // The agent waits for this file before its last line (a loaded machine
  // may show the page after the agent is done otherwise).
  if (process.env.CAR_FLOW_WATCHING) writeFileSync(process.env.CAR_FLOW_WATCHING, "");
  await p.waitForSelector('#task-head[data-state="succeeded"]', { timeout: 60000 });
  const lines = await text();
  const streamed = await p.evaluate(() => window.__added);
  const history = (await p.textContent(`#history a[href$="/tasks/${first}"]`)).trim();
  const history_row = (await p.textContent("#history li.current")).replace(/\s+/g, " ").trim();

  // 2: a reply continues it; its lines follow the first turn's.
  await p.fill("#reply-text", "And the folders?");
  await p.press("#reply-text", "Control+Enter");
  await p.waitForSelector('#task-head[data-state="succeeded"][data-turns="2"]', { timeout: 60000 });
  await p.waitForFunction(() => [...document.querySelectorAll("#output .l")].some((l) => l.textContent === "second turn"));
  const after_reply = await text();

  // A reply from elsewhere (here a plain API call): the page follows its turn too.
  await p.evaluate(() => { window.__same = true; });
  await p.evaluate(async (url) => {
    const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ message: "Count again" }) });
    if (!r.ok) throw new Error(`${url}: ${r.status}`);
  }, `${base}api/v1/tasks/${first}/reply`);
  await p.waitForFunction(() => [...document.querySelectorAll("#output .l")].some((l) => l.textContent === "third turn"), null, { timeout: 60000 });
  await p.waitForSelector('#task-head[data-state="succeeded"][data-turns="3"]', { timeout: 60000 });
  const followed_elsewhere = await p.evaluate(() => window.__same === true);

  // 3: a long one, cancelled.
  const long = await compose("Take your time");
  await p.waitForFunction(() => [...document.querySelectorAll("#output .l")].some((l) => l.textContent === "long task started"), null, { timeout: 60000 });
  await p.click("#cancel");
  await p.waitForSelector('#task-head[data-state="cancelled"]', { timeout: 60000 });
  const cancelled_row = (await p.textContent("#history li.current")).replace(/\s+/g, " ").trim();
  const history_count = await p.$$eval("#history .task-list li", (ls) => ls.length);
  return { model, first, long, lines, streamed, followed_elsewhere, history, history_row, after_reply, cancelled_row, history_count };
});
