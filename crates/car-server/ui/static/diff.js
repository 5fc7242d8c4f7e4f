// A line diff for people (longest common subsequence of the lines, after
// the common head and tail), its rendering, and a merge text with
// conflict marks where two versions differ.

/** The lines of `a` and `b` as [tag, text] with tag same, del or add. */
export function lineDiff(a, b) {
  const x = a.split("\n"), y = b.split("\n");
  let head = 0;
  while (head < x.length && head < y.length && x[head] === y[head]) head++;
  let tail = 0;
  while (tail < x.length - head && tail < y.length - head && x[x.length - 1 - tail] === y[y.length - 1 - tail]) tail++;
  const xs = x.slice(head, x.length - tail), ys = y.slice(head, y.length - tail);
  const out = x.slice(0, head).map((t) => ["same", t]);
  if (xs.length * ys.length > 4_000_000) {
    // Too large to compare line by line: all of one, then all of the other.
    for (const t of xs) out.push(["del", t]);
    for (const t of ys) out.push(["add", t]);
  } else {
    const n = xs.length, m = ys.length;
    const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i][j] = xs[i] === ys[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
      }
    }
    let i = 0, j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && xs[i] === ys[j]) { out.push(["same", xs[i]]); i++; j++; }
      else if (j < m && (i === n || lcs[i][j + 1] >= lcs[i + 1][j])) { out.push(["add", ys[j]]); j++; }
      else { out.push(["del", xs[i]]); i++; }
    }
  }
  for (const t of x.slice(x.length - tail)) out.push(["same", t]);
  return out;
}

/** Puts the diff in `el`, one element a line. */
export function renderDiff(el, diff) {
  const frag = document.createDocumentFragment();
  for (const [tag, text] of diff) {
    const div = document.createElement("div");
    div.className = `d ${tag}`;
    div.textContent = text;
    frag.append(div);
  }
  el.replaceChildren(frag);
}

/** Theirs and yours in one text: common lines once, each difference as
 *  `<<<<<<< theirs` … `=======` … `>>>>>>> yours`. */
export function mergeText(diff) {
  const out = [];
  let del = [], add = [];
  const flush = () => {
    if (del.length || add.length) out.push("<<<<<<< theirs", ...del, "=======", ...add, ">>>>>>> yours");
    del = []; add = [];
  };
  for (const [tag, text] of diff) {
    if (tag === "same") { flush(); out.push(text); }
    else if (tag === "del") del.push(text);
    else add.push(text);
  }
  flush();
  return out.join("\n");
}
