// Voice input on the Tasks page with chromium's fake microphone (a beep):
// the microphone button starts a recording that shows its elapsed time,
// a second press stops it, and the fake endpoint's text lands at the
// composer's cursor; the button is ready again.
import { run, signIn, live, SIZES } from "./lib.mjs";

await run(async ({ base, out, link, page, browser }) => {
  const context = await browser.newContext({ viewport: SIZES.mobile });
  await context.grantPermissions(["microphone"], { origin: new URL(base).origin });
  const p = await page(SIZES.mobile, context);
  await signIn(p, link, base);
  const id = await p.getAttribute(".repo", "data-id");
  await p.goto(`${base}repos/${id}/tasks`);
  await live(p);
  const mic = '[data-voice-for="task-prompt"]';
  await p.waitForSelector(mic);

  // Text already typed stays; the transcript goes at the cursor (the end).
  await p.fill("#task-prompt", "Please");
  await p.click(mic);
  await p.waitForSelector(`${mic}[data-mode="recording"][aria-pressed="true"]`);
  // At least a second on the clock (a loaded machine may skip 0:01).
  await p.waitForFunction(() => {
    const m = /recording (\d+):(\d\d)/.exec(document.querySelector(".voice-state").textContent);
    return m && Number(m[1]) * 60 + Number(m[2]) >= 1;
  }, null, { timeout: 30000 });
  const recording = (await p.textContent(".voice-state")).trim();
  const label = (await p.textContent(`${mic} .mic-label`)).trim();
  await p.screenshot({ path: `${out}/voice-recording-mobile.png`, fullPage: false });
  await p.click(mic);
  await p.waitForFunction(() => document.querySelector("#task-prompt").value !== "Please", null, { timeout: 30000 });
  const prompt = await p.inputValue("#task-prompt");
  await p.waitForSelector(`${mic}[data-mode="idle"]`);
  const after = (await p.textContent(`${mic} .mic-label`)).trim();
  const focused = await p.evaluate(() => document.activeElement && document.activeElement.id);
  const overflow = await p.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
  return { recording, label, prompt, after, focused, overflow };
}, { launchArgs: ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"] });
