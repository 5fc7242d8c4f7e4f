// "Show all": the part of a log before the tail a page started with,
// fetched by slices from the API (`{text, next_offset}`) and put before
// the lines shown.
import { api, toast } from "./common.js";
import { parseLine } from "./logview.js";

/** Wires the button `btn` (`data-start`: where the lines shown start) to
 *  fetch `url?offset=&limit=` slices into `view`. */
export function showAll(btn, url, view) {
  btn?.addEventListener("click", async () => {
    btn.disabled = true;
    try {
      const upTo = Number(btn.dataset.start);
      const parts = [];
      for (let offset = 0; offset < upTo;) {
        const slice = await api("GET", `${url}?offset=${offset}&limit=${upTo - offset}`);
        if (slice.next_offset <= offset) break;
        parts.push(slice.text);
        offset = slice.next_offset;
      }
      const text = parts.join("");
      view.prepend((text.endsWith("\n") ? text.slice(0, -1) : text).split("\n").map(parseLine));
      btn.remove();
      document.getElementById("cut")?.remove();
    } catch (e) {
      btn.disabled = false;
      toast(`output: ${e.message}`, true);
    }
  });
}

/** The "Show all" of a final message cut short: the whole text from the
 *  JSON at the button's `data-url` (its `final_output`). */
export function finalAll() {
  document.addEventListener("click", async (e) => {
    const btn = e.target.closest("#final-all");
    if (!btn) return;
    btn.disabled = true;
    try {
      const data = await api("GET", btn.dataset.url);
      document.getElementById("final-text").textContent = data.final_output || "";
      btn.closest(".final-cut").remove();
    } catch (err) {
      btn.disabled = false;
      toast(`final message: ${err.message}`, true);
    }
  });
}
