// The hub page's Machines section: the machines are named at once, then
// each one's repositories (or its error) come from their servers; at
// 1280x800 and 390x844: no horizontal scrolling, no console error, no
// serious accessibility violation; a screenshot of each.
import { run, signIn, live, axe, SIZES, shot } from "./lib.mjs";

await run(async ({ base, link, out, page }) => {
  const p = await page(SIZES.desk);
  await signIn(p, link, base);
  const checks = [];
  let machines = null;
  for (const [size, viewport] of Object.entries(SIZES)) {
    await p.setViewportSize(viewport);
    await p.goto(base);
    await live(p);
    // The section is filled from its servers' answers.
    await p.waitForFunction(
      () => {
        const m = document.getElementById("machines");
        return m && m.querySelector("li.machine") && !m.textContent.includes("checking");
      },
      null,
      { timeout: 30000 },
    );
    machines = await p.$$eval("#machines li.machine", (ms) =>
      ms.map((m) => ({
        name: m.dataset.name,
        badge: m.querySelector(".repo-head .badge").textContent.trim(),
        url: m.querySelector(".machine-url")?.textContent.trim() ?? null,
        error: m.querySelector(".machine-error")?.textContent.trim() ?? null,
        repos: [...m.querySelectorAll(".machine-repos > li")].map((r) => ({
          id: r.dataset.id,
          text: r.innerText.replace(/\s+/g, " ").trim(),
        })),
      })),
    );
    const dims = await p.evaluate(() => ({ scroll: document.scrollingElement.scrollWidth, inner: window.innerWidth }));
    const file = `${out}/hub-machines-${size}.png`;
    await shot(p, file);
    checks.push({ size, overflow: dims.scroll > dims.inner, scroll_width: dims.scroll, axe: await axe(p), screenshot: file });
  }
  return { machines, checks };
});
