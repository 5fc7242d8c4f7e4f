// A repository's settings page: the notification test (each provider's
// answer listed) and a filter that keeps the keys set by the user.
import { api, toast } from "./common.js";

const id = document.getElementById("repo").dataset.id;
const form = document.getElementById("notify-test");
const results = document.getElementById("notify-results");

async function sendTest() {
  const btn = form.querySelector("button");
  const provider = form.provider.value;
  btn.disabled = true;
  results.replaceChildren();
  const waiting = document.createElement("li");
  waiting.className = "muted";
  waiting.textContent = "sending…";
  results.append(waiting);
  try {
    const r = await api("POST", `/api/v1/repos/${encodeURIComponent(id)}/notify/test`, provider ? { provider } : {});
    results.replaceChildren();
    if (r.hint) {
      const li = document.createElement("li");
      li.className = "err-text";
      li.textContent = r.hint;
      results.append(li);
    }
    for (const x of r.results) {
      const li = document.createElement("li");
      li.dataset.provider = x.provider;
      li.dataset.sent = String(x.sent);
      const badge = document.createElement("span");
      badge.className = `badge ${x.sent ? "sent" : "failed"}`;
      badge.textContent = x.sent ? "sent" : "failed";
      const name = document.createElement("strong");
      name.textContent = x.provider;
      const why = document.createElement("span");
      why.className = x.sent ? "muted" : "err-text";
      why.textContent = x.sent ? (x.message_id ? `message ${x.message_id}` : "") : x.error;
      li.append(name, " ", badge, " ", why);
      results.append(li);
    }
    toast(r.all_sent ? "test notification sent" : "not every provider took the test notification", !r.all_sent);
  } catch (e) {
    results.replaceChildren();
    toast(e.message, true);
  } finally {
    btn.disabled = false;
  }
}

form.addEventListener("submit", (e) => { e.preventDefault(); sendTest(); });

document.getElementById("only-changed").addEventListener("change", (e) => {
  document.body.classList.toggle("only-changed", e.target.checked);
});
