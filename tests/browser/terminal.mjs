// The terminal page: a new session (its PTY runs /bin/sh here), typing
// into xterm.js and seeing the echo, the key bar's Ctrl-C, a resize sent
// when the window turns into a phone's, the cap answered with a clear
// message, a reload that reattaches (the session went on, its recent
// output is drawn again), a dropped connection that reconnects, and Stop.
import { run, signIn, live, timing, SIZES, shot } from "./lib.mjs";

await run(async ({ base, link, out, page }) => {
  const p = await page(SIZES.desk);
  p.on("dialog", (d) => d.accept());
  // Every terminal socket goes through this route, so the flow can drop one.
  const sockets = [];
  await p.routeWebSocket(/\/terminals\/[^/]+\/ws$/, (ws) => {
    const server = ws.connectToServer();
    sockets.push({ ws, server });
  });
  await signIn(p, link, base);
  const id = await p.getAttribute(".repo", "data-id");
  await p.goto(`${base}repos/${id}/terminal`);
  const nav = await timing(p);
  await p.click("#new-session");
  await p.waitForURL(/\?session=/);
  const tid = new URL(p.url()).searchParams.get("session");
  await live(p);
  await p.waitForSelector(".xterm-rows");
  const screen = () => p.evaluate(() => document.querySelector(".xterm-rows").textContent);
  const waitScreen = (re) => p.waitForFunction(
    (src) => new RegExp(src).test(document.querySelector(".xterm-rows").textContent), re.source, { timeout: 20000 });

  await p.click("#term");
  await p.keyboard.type("echo hello-$((6*7))\n");
  await waitScreen(/hello-42/);
  const t0 = Date.now();
  await p.keyboard.type("echo ping-$((1+1))\n");
  await waitScreen(/ping-2/);
  const echo_ms = Date.now() - t0;

  // The key bar's Ctrl-C stops a command a phone keyboard could not.
  await p.keyboard.type("sleep 60; echo not-interrupted\n");
  await p.waitForTimeout(300);
  await p.click('button[data-key="ctrl-c"]');
  await p.keyboard.type("echo after-$((2+3))\n");
  await waitScreen(/after-5/);

  // A desk's size, then a phone's: the PTY follows (stty reports it).
  await p.keyboard.type("stty size | sed 's/^/size=/'\n");
  await waitScreen(/size=\d+ \d+/);
  const desk = /size=(\d+) (\d+)/.exec(await screen());
  await shot(p, `${out}/terminal-attached-desk.png`);
  await p.setViewportSize(SIZES.mobile);
  await p.waitForTimeout(500);
  await p.click("#term");
  await p.keyboard.type("stty size | sed 's/^/phone=/'\n");
  await waitScreen(/phone=\d+ \d+/);
  const phone = /phone=(\d+) (\d+)/.exec(await screen());
  const overflow = await p.evaluate(() => document.scrollingElement.scrollWidth > innerWidth);
  await shot(p, `${out}/terminal-attached-mobile.png`);

  // The cap (1 here): a second session is refused, saying why.
  await p.click("#new-session");
  await p.waitForSelector("#toast:not([hidden])");
  const cap_message = await p.textContent("#toast");

  // A reload reattaches: what was on the screen is drawn again.
  await p.click("#term");
  await p.keyboard.type("echo before-$((3*3))-reload\n");
  await waitScreen(/before-9-reload/);
  await p.reload();
  await live(p);
  await p.waitForSelector(".xterm-rows");
  await waitScreen(/before-9-reload/);
  await p.click("#term");
  await p.keyboard.type("echo again-$((4*4))\n");
  await waitScreen(/again-16/);

  // The connection drops (not the session's end): the page says so,
  // reconnects, and the session goes on.
  const before = sockets.length;
  const last = sockets[sockets.length - 1];
  await last.ws.close({ code: 4000, reason: "dropped by the test" });
  last.server.close();
  await p.waitForFunction(() => /reconnecting/.test(document.getElementById("term-state").textContent), null, { timeout: 10000 });
  const dropped_state = await p.textContent("#term-state");
  await p.waitForFunction(() => document.getElementById("term-state").textContent === "attached", null, { timeout: 20000 });
  await p.click("#term");
  await p.keyboard.type("echo dropped-$((5*5))\n");
  await waitScreen(/dropped-25/);
  const reconnected = sockets.length > before;

  // Stop: the session ends and the page says so.
  await p.click(`button[data-stop="${tid}"]`);
  await p.waitForFunction(() => /ended/.test(document.getElementById("term-state").textContent), null, { timeout: 20000 });
  await p.waitForSelector(`[data-tid="${tid}"] .badge.s-stopped`, { timeout: 20000 });
  return {
    navigation: nav,
    session: tid,
    echo_ms,
    desk_size: desk && [Number(desk[1]), Number(desk[2])],
    phone_size: phone && [Number(phone[1]), Number(phone[2])],
    overflow,
    cap_message,
    dropped_state,
    reconnected,
    state: await p.textContent("#term-state"),
  };
});
