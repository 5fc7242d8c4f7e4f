// The snapshot page: Generate runs the agent as a job (its progress, then
// the snapshot), Copy puts it on the clipboard, Regenerate from scratch
// replaces it; a failing agent's job says so and keeps the snapshot.
import { run, signIn, timing, SIZES } from "./lib.mjs";

await run(async ({ base, link, browser, page }) => {
  const context = await browser.newContext({ viewport: SIZES.desk });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(base).origin });
  const p = await page(SIZES.desk, context);
  await signIn(p, link, base);
  const id = await p.getAttribute(".repo", "data-id");
  await p.goto(`${base}repos/${id}/snapshot`);
  const nav = await timing(p);
  const before = await p.textContent("#snapshot-meta");
  await p.click("#snap-update");
  await p.waitForSelector("#job:not([hidden])");
  const progress = await p.textContent("#job-state");
  // Shown rendered; its Markdown text is a tap away.
  await p.waitForSelector("#snapshot-html h1", { timeout: 60000 });
  const heading = await p.textContent("#snapshot-html h1");
  const text_hidden = await p.isHidden("#snapshot-text");
  await p.click("#as-text");
  const text_shown = await p.isVisible("#snapshot-text") && await p.isHidden("#snapshot-html");
  const first = await p.textContent("#snapshot-text");
  const done = await p.textContent("#job-state");
  await p.click("#copy");
  await p.waitForSelector("#toast:not([hidden])");
  const clipboard = await p.evaluate(() => navigator.clipboard.readText());
  await p.click('button[data-snapshot="scratch"]');
  await p.waitForFunction(() => /two/.test(document.getElementById("snapshot-text")?.textContent || ""), null, { timeout: 60000 });
  const second = await p.textContent("#snapshot-text");
  // A failing agent: the job says so with its output; the snapshot stays.
  await p.click("#snap-update");
  await p.waitForFunction(() => /failed/.test(document.getElementById("job-state").textContent), null, { timeout: 60000 });
  const failed = await p.textContent("#job-state");
  const failed_log = await p.textContent("#job-log");
  const kept = await p.textContent("#snapshot-text");
  return { navigation: nav, before, progress, done, heading, text_hidden, text_shown, first, clipboard, second, failed, failed_log, kept, button: await p.textContent("#snap-update") };
});
