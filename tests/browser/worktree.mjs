// The hub page makes a worktree: the form's new job shows up in the list
// (its own row, live); a name git cannot take is refused with the
// server's message and nothing is added.
import { run, signIn, live, SIZES } from "./lib.mjs";

await run(async ({ base, link, page, errors }) => {
  const p = await page(SIZES.mobile);
  await signIn(p, link, base);
  await live(p);
  const before = await p.$$eval("li.repo", (rows) => rows.map((r) => r.dataset.id));
  await p.selectOption('#new-worktree select[name="base"]', "alpha");
  await p.fill('#new-worktree input[name="name"]', "fix-login");
  await p.click('#new-worktree button[type="submit"]');
  await p.waitForSelector('li.repo[data-id="alpha--fix-login"]', { timeout: 60000 });
  const toastText = (await p.textContent("#toast")).trim();
  // A refused name: the message shows, the list stays as it is.
  await p.fill('#new-worktree input[name="name"]', "bad name..lock");
  await p.click('#new-worktree button[type="submit"]');
  await p.waitForFunction(
    () => {
      const t = document.getElementById("toast");
      return t && !t.hidden && !/made/.test(t.textContent);
    },
    null,
    { timeout: 30000 },
  );
  const refused = (await p.textContent("#toast")).trim();
  const after = await p.$$eval("li.repo", (rows) => rows.map((r) => r.dataset.id));
  // Chromium logs the refused request itself as a console error: exactly
  // that one is expected, any other still fails the flow.
  const expected = errors.filter((e) => e.includes("status of 400 (Bad Request)"));
  errors.splice(0, errors.length, ...errors.filter((e) => !expected.includes(e)));
  return { before, after, made: toastText, refused, refused_requests: expected.length };
});
