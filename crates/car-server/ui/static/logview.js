// A terminal-like view of log lines: each line a `div.l.<kind>`; it
// follows the end, pauses when scrolled up (the Follow button comes
// back to it), and copies its text.
import { toast } from "./common.js";

const MAX_LINES = 20000;

/** `[ts] stdout: text` (stderr, codex, car; `run=N` in old logs) or a
 *  `=== run N ===` mark, as `{kind, text}`. */
export function parseLine(raw) {
  if (raw.startsWith("=== run ")) return { kind: "mark", text: raw };
  const m = /^\[[^\]]*\] (?:run=\d+ )?(stdout|stderr|codex|car): (.*)$/s.exec(raw);
  if (m) return { kind: STREAMS[m[1]], text: m[2] };
  return { kind: "out", text: raw };
}

/** The class of a line from its stream's name. */
export const STREAMS = { stdout: "out", stderr: "err", codex: "agent", car: "mark" };

function lineDivs(lines) {
  const frag = document.createDocumentFragment();
  for (const { kind, text } of lines) {
    const div = document.createElement("div");
    div.className = `l ${kind}`;
    div.textContent = text;
    frag.append(div);
  }
  return frag;
}

/** Wires `box` (the lines), `jump` (Follow) and `copy` buttons. */
export function logView(box, jump, copy) {
  let following = true;
  const atEnd = () => box.scrollHeight - box.scrollTop - box.clientHeight < 8;
  const toEnd = () => { box.scrollTop = box.scrollHeight; };
  box.addEventListener("scroll", () => {
    following = atEnd();
    jump.hidden = following;
  });
  jump.addEventListener("click", () => {
    following = true;
    jump.hidden = true;
    toEnd();
  });
  copy.addEventListener("click", async () => {
    const text = [...box.children].map((d) => d.textContent).join("\n");
    try {
      await navigator.clipboard.writeText(text);
      toast("output copied");
    } catch {
      const range = document.createRange();
      range.selectNodeContents(box);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      toast("output selected: copy it with your device's copy");
    }
  });
  toEnd();
  return {
    /** Adds lines at the end (and scrolls there unless paused). */
    append(lines) {
      box.append(lineDivs(lines));
      while (box.childElementCount > MAX_LINES) box.firstElementChild.remove();
      if (following) toEnd();
    },
    /** Puts lines before the first one, keeping the place in view. */
    prepend(lines) {
      const from = box.scrollHeight - box.scrollTop;
      box.prepend(lineDivs(lines));
      box.scrollTop = box.scrollHeight - from;
    },
    /** Empties the view. */
    clear() { box.replaceChildren(); },
    get following() { return following; },
  };
}
