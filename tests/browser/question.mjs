// The agent asks; the dashboard shows the question with an answer box;
// Ctrl+Enter replies and resumes; the loop goes on to the end.
import { run, signIn, live, SIZES } from "./lib.mjs";

await run(async ({ base, link, page }) => {
  const p = await page(SIZES.mobile);
  await signIn(p, link, base);
  const id = await p.getAttribute(".repo", "data-id");
  await p.goto(`${base}repos/${id}`);
  await live(p);
  await p.click('button[data-action="run"]');
  await p.waitForSelector("#question:not([hidden])", { timeout: 60000 });
  const question = (await p.textContent("#question .question-text")).trim();
  await p.fill("#answer-text", "Postgres");
  await p.press("#answer-text", "Control+Enter");
  await p.waitForSelector("#question[hidden]", { state: "attached", timeout: 60000 });
  // The badge said "stopped" while the question waited: wait for the end.
  await p.waitForFunction(
    () => /completed/.test(document.querySelector("#summary .badges")?.textContent || ""),
    null,
    { timeout: 60000 },
  );
  const badge = await p.textContent("#summary .badges");
  return { question, summary: badge.replace(/\s+/g, " ").trim() };
});
