// The settings page: where each value came from, and the notification
// test against the fake ntfy the test started (each provider's answer).
import { run, signIn, timing, SIZES } from "./lib.mjs";

await run(async ({ base, link, page }) => {
  const p = await page(SIZES.mobile);
  await signIn(p, link, base);
  const id = await p.getAttribute(".repo", "data-id");
  await p.goto(`${base}repos/${id}/settings`);
  const nav = await timing(p);
  const row = (key) => p.evaluate((k) => {
    const dt = [...document.querySelectorAll(".config-row dt")].find((d) => d.textContent === k);
    return dt ? dt.parentElement.innerText.replace(/\s+/g, " ").trim() : null;
  }, key);
  const sleep = await row("runner.sleep_seconds");
  const retries = await row("runner.transient_retries");
  // Only the keys set by the user.
  await p.check("#only-changed");
  const visible = (sel) => p.evaluate((s) => [...document.querySelectorAll(s)].filter((r) => r.offsetParent).length, sel);
  const shown_default = await visible(".config-row.is-default");
  const shown_set = await visible(".config-row:not(.is-default)");
  await p.click("#notify-test button[type=submit]");
  await p.waitForSelector('#notify-results li[data-provider="ntfy"]', { timeout: 30000 });
  const results = await p.$$eval("#notify-results li", (lis) => lis.map((li) => ({
    provider: li.dataset.provider, sent: li.dataset.sent === "true", text: li.textContent.replace(/\s+/g, " ").trim(),
  })));
  return { navigation: nav, sleep, retries, shown_default, shown_set, results };
});
