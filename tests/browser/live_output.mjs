// Start a loop from the dashboard and watch its output arrive: every line
// in order, each seen how long after the agent printed it (the lines
// carry the agent's clock in ms: `T <ms> <n>`).
import { run, signIn, live, timing, SIZES } from "./lib.mjs";

await run(async ({ base, link, page }) => {
  const p = await page(SIZES.desk);
  await signIn(p, link, base);
  const id = await p.getAttribute(".repo", "data-id");
  await p.goto(`${base}repos/${id}`);
  const nav = await timing(p);
  await live(p);
  await p.evaluate(() => {
    window.__seen = [];
    new MutationObserver((muts) => {
      const now = Date.now();
      for (const m of muts) for (const n of m.addedNodes) {
        const t = /^T (\d+) (\d+)$/.exec(n.textContent || "");
        if (t) window.__seen.push({ n: Number(t[2]), latency: now - Number(t[1]) });
      }
    }).observe(document.getElementById("output"), { childList: true });
  });
  await p.click('button[data-action="run"]');
  const want = Number(process.env.CAR_FLOW_LINES || "10");
  await p.waitForFunction((n) => window.__seen.length >= n, want, { timeout: 60000 });
  const seen = await p.evaluate(() => window.__seen);
  const order = seen.map((s) => s.n);
  const lat = seen.map((s) => s.latency).sort((a, b) => a - b);
  // The loop ends; the state says so without a reload.
  await p.waitForSelector("#summary .badge.s-stopped", { timeout: 60000 });
  const timeline = await p.textContent("#timeline");
  return {
    navigation: nav,
    lines: order,
    latency_ms: { median: lat[Math.floor(lat.length / 2)], max: lat[lat.length - 1] },
    timeline_has_stop: /stopped/.test(timeline),
  };
});
