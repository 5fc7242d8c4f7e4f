// Every page at 1280x800 and 390x844: no horizontal scrolling, no console
// error, no serious accessibility violation (axe-core); a screenshot of
// each in the out dir. Pages: the sign-in page (a browser without a
// session), then each path given in CAR_FLOW_PAGES (comma-separated, `/`
// for the hub).
import { run, signIn, live, timing, axe, SIZES, shot } from "./lib.mjs";

await run(async ({ base, link, out, page }) => {
  const paths = (process.env.CAR_FLOW_PAGES || "").split(",").filter(Boolean);
  const pages = [];
  const anon = await page(SIZES.desk);
  const p = await page(SIZES.desk);
  await signIn(p, link, base);
  for (const [size, viewport] of Object.entries(SIZES)) {
    await anon.setViewportSize(viewport);
    await anon.goto(base);
    pages.push(await check(anon, "signin", size, out));
    await p.setViewportSize(viewport);
    for (const path of paths) {
      await p.goto(base + path.replace(/^\//, ""));
      // Pages with a live stream are checked once it is connected.
      if (await p.$("#live")) await live(p);
      pages.push({ ...(await check(p, path === "/" ? "hub" : path, size, out)), timing: await timing(p) });
    }
  }
  const bad = pages.filter((x) => x.overflow || x.axe.length);
  if (bad.length) throw new Error(`pages with problems: ${JSON.stringify(bad)}`);
  return { pages };
});

async function check(p, name, size, out) {
  const dims = await p.evaluate(() => ({ scroll: document.scrollingElement.scrollWidth, inner: window.innerWidth }));
  const file = `${out}/${name.replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, "") || "hub"}-${size}.png`;
  await shot(p, file);
  const mics = await p.$$eval("[data-voice-for]", (bs) => bs.map((b) => b.dataset.voiceFor));
  return { name, size, overflow: dims.scroll > dims.inner, scroll_width: dims.scroll, axe: await axe(p), screenshot: file, mics };
}
