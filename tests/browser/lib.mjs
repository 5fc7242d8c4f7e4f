// What the flows share: Debian's chromium through playwright-core, a page
// whose console errors are kept, sign-in through a one-time link, and the
// one JSON line a flow prints for tests/e2e/browser.rs.
import { chromium } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";

export const CHROMIUM = process.env.CAR_CHROMIUM || "/usr/bin/chromium";
export const SIZES = { desk: { width: 1280, height: 800 }, mobile: { width: 390, height: 844 } };

/** `<base-url> <out-dir> [one-time link]` from the command line. */
export function args() {
  const [base, out, link] = process.argv.slice(2);
  if (!base || !out) {
    console.error("usage: node <flow>.mjs <base-url> <out-dir> [one-time-link]");
    process.exit(2);
  }
  mkdirSync(out, { recursive: true });
  return { base: base.endsWith("/") ? base : base + "/", out, link: link || "" };
}

/** Runs `flow(ctx)` with a browser; prints `{ok, ...result}` or
 *  `{ok: false, error}` and exits 0 or 1. `opts.launchArgs`: more
 *  command-line switches for chromium (a fake microphone, ...). */
export async function run(flow, opts = {}) {
  const a = args();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage", ...(opts.launchArgs || [])],
  });
  const errors = [];
  const ctx = {
    ...a,
    browser,
    errors,
    /** A new page of a new context (a fresh browser profile) at `size`. */
    async page(size = SIZES.desk, context) {
      const c = context || (await browser.newContext({ viewport: size }));
      const p = await c.newPage();
      p.on("console", (m) => { if (m.type() === "error") errors.push(`${p.url()}: ${m.text()}`); });
      p.on("pageerror", (e) => errors.push(`${p.url()}: ${e.message}`));
      p.setDefaultTimeout(60000);
      return p;
    },
  };
  // CAR_FLOW_TIMEOUT_S: a flow visiting many pages may take longer on a
  // loaded machine than the usual 120 s.
  const limit = Number(process.env.CAR_FLOW_TIMEOUT_S) || 120;
  const timer = setTimeout(() => finish(false, { error: `the flow took more than ${limit} s` }), limit * 1000);
  try {
    const result = await flow(ctx);
    clearTimeout(timer);
    await browser.close();
    finish(errors.length === 0, { ...result, console_errors: errors });
  } catch (e) {
    clearTimeout(timer);
    await browser.close().catch(() => {});
    finish(false, { error: String(e && e.stack ? e.stack : e), console_errors: errors });
  }
}

function finish(ok, result) {
  console.log(JSON.stringify({ ok, ...result }));
  process.exit(ok ? 0 : 1);
}

/** Signs `page` in through the one-time link: it lands on the hub. */
export async function signIn(page, link, base) {
  if (!link) return;
  const resp = await page.goto(link);
  if (!resp || !resp.ok()) throw new Error(`the link answered ${resp && resp.status()}`);
  if (page.url() !== base) throw new Error(`the link landed on ${page.url()}, not ${base}`);
}

/** Waits until the page's live stream is connected. */
export async function live(page) {
  await page.waitForSelector("#live.on", { timeout: 15000 });
}

/** The page's navigation timing, in ms from the start of navigation. */
export async function timing(page) {
  return page.evaluate(() => {
    const n = performance.getEntriesByType("navigation")[0];
    return {
      response_end_ms: Math.round(n.responseEnd),
      dom_content_loaded_ms: Math.round(n.domContentLoadedEventEnd),
      load_ms: Math.round(n.loadEventEnd),
    };
  });
}

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

/** axe-core's serious and critical violations on `page` (evaluated
 *  through the DevTools protocol: the page's CSP stays on). */
export async function axe(page) {
  await page.evaluate(AXE);
  const res = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  return res.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
}

/** A full-page screenshot taken from the top, so the sticky header stays
 *  at the top of the picture instead of over the part scrolled to. */
export async function shot(p, path) {
  await p.evaluate(() => window.scrollTo(0, 0));
  await p.screenshot({ path, fullPage: true });
}
