// Sign in through the one-time link: without a session the hub is a
// sign-in page (200, no data); the link sets the cookie and lands on the
// hub; the dashboard then works too.
import { run, signIn, live, SIZES } from "./lib.mjs";

await run(async ({ base, link, page }) => {
  const p = await page(SIZES.desk);
  const before = await p.goto(base);
  const status = before.status();
  const heading = await p.textContent("h1");
  const listed = await p.locator(".repo").count();
  if (status !== 200 || heading.trim() !== "Sign in" || listed !== 0) {
    throw new Error(`without a session: ${status} ${heading} with ${listed} repositories`);
  }
  await signIn(p, link, base);
  await live(p);
  const repos = await p.locator(".repo").count();
  if (repos < 1) throw new Error("no repository on the hub after signing in");
  // The list is fetched again when the stream connects; rows that did not
  // change stay in place, so one tap on a link opens it.
  const row = await p.$(".repo-list > li[data-id]");
  await p.evaluate(() => new Promise((r) => setTimeout(r, 400)));
  if (!(await row.evaluate((el) => el.isConnected))) throw new Error("an unchanged row was replaced when the list was fetched again");
  await p.locator(".repo-name").first().click();
  await p.waitForURL(/\/repos\//, { timeout: 10000 }).catch(() => {});
  if (!/\/repos\//.test(p.url())) throw new Error(`a repository's link did not open it: still at ${p.url()}`);
  await live(p);
  return { before_status: status, repos, dashboard: p.url() !== base };
});
