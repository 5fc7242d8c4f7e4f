// A run at work: the Runs list shows it as it starts (no reload), its
// page adds the lines the agent prints, and once it ends the page shows
// its record: outcome and the highlighted doc diff.
import { run, signIn, live, SIZES } from "./lib.mjs";

await run(async ({ base, link, page }) => {
  const p = await page(SIZES.desk);
  await signIn(p, link, base);
  const id = process.env.CAR_FLOW_REPO || (await p.getAttribute(".repo", "data-id"));
  await p.goto(`${base}repos/${id}/runs`);
  await live(p);
  const empty = (await p.textContent("#runs")).replace(/\s+/g, " ").trim();
  await p.evaluate(async (path) => {
    const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    if (!r.ok) throw new Error(`${path}: ${r.status}`);
  }, `${base}api/v1/repos/${id}/loop/once`);
  await p.waitForSelector("#runs .run-list li .badge.o-none", { timeout: 60000 });
  const running_row = (await p.textContent("#runs .run-list li")).replace(/\s+/g, " ").trim();
  await p.click("#runs .run-list li a.run-id");
  await live(p);
  await p.evaluate(() => { window.__same = true; });
  await p.waitForFunction(() => [...document.querySelectorAll("#output .l")].some((l) => l.textContent === "tick 6"), null, { timeout: 60000 });
  // Still the same document: the lines came over the stream.
  const same_page = await p.evaluate(() => window.__same === true);
  const live_lines = await p.$$eval("#output .l", (ls) => ls.map((l) => l.textContent).filter((t) => t.startsWith("tick ")));
  await p.waitForSelector(".diff .d.add", { timeout: 60000 });
  const outcome = (await p.textContent("#run-facts .badges")).replace(/\s+/g, " ").trim();
  const added = await p.$$eval(".diff .d.add", (ls) => ls.map((l) => l.textContent));
  return { empty, running_row, same_page, live_lines, outcome, added };
});
