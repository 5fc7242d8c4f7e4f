// The Runs pages: the list shows the run with its outcome and TODO
// change; its page shows the highlighted doc diff and the tail of its
// output, and "Show all" brings the whole log in.
import { run, signIn, live, timing, SIZES } from "./lib.mjs";

await run(async ({ base, link, page }) => {
  const p = await page(SIZES.mobile);
  await signIn(p, link, base);
  const id = process.env.CAR_FLOW_REPO || (await p.getAttribute(".repo", "data-id"));
  await p.goto(`${base}repos/${id}/runs`);
  const list_timing = await timing(p);
  await live(p);
  const rows = await p.$$eval("#runs .run-list li", (lis) => lis.map((li) => li.textContent.replace(/\s+/g, " ").trim()));
  await p.click("#runs .run-list li:first-child a.run-id");
  await p.waitForSelector("#diffs");
  const run_timing = await timing(p);
  await live(p);
  const added = await p.$$eval(".diff .d.add", (ls) => ls.map((l) => l.textContent));
  const removed = await p.$$eval(".diff .d.del", (ls) => ls.map((l) => l.textContent));
  // Added lines are coloured apart from removed ones.
  const colours = await p.evaluate(() => {
    const bg = (sel) => getComputedStyle(document.querySelector(sel)).backgroundColor;
    return { add: bg(".diff .d.add"), del: bg(".diff .d.del"), ctx: bg(".diff") };
  });
  const lines_before = await p.$$eval("#output .l", (ls) => ls.length);
  const first_before = await p.textContent("#output .l");
  await p.click("#show-all");
  await p.waitForSelector("#show-all", { state: "detached" });
  const lines_after = await p.$$eval("#output .l", (ls) => ls.length);
  const first_after = await p.textContent("#output .l");
  const last_after = await p.$eval("#output", (o) => o.lastElementChild.textContent);
  // The final message too starts with its end.
  const final_before = (await p.textContent("#final-text")).length;
  await p.click("#final-all");
  await p.waitForSelector("#final-all", { state: "detached" });
  const final_after = await p.textContent("#final-text");
  return { final_before, final_after_chars: [...final_after].length, final_ends: final_after.slice(-40), rows, added, removed, colours, lines_before, lines_after, first_before, first_after, last_after, list_timing, run_timing };
});
