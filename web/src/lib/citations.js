// [n] citation markers in answers that used knowledge collections.

// Matches a citation marker at the start of src: "[3]" or "[1, 2]" / "[1，2]" (full-width comma),
// with every number in 1..max. Returns {raw, refs} or null. A marker that is really a link
// ("[1](url)") or a reference definition ("[1]: url") is not a citation.
export function matchCitation(src, max) {
  if (!max || src[0] !== '[') return null;
  const m = /^\[(\d{1,4}(?:\s*[,，、]\s*\d{1,4})*)\](?![(:])/.exec(src);
  if (!m) return null;
  const refs = m[1].split(/\s*[,，、]\s*/).map(Number);
  if (!refs.every((n) => Number.isInteger(n) && n >= 1 && n <= max)) return null;
  return { raw: m[0], refs };
}

// Where the next possible marker starts (for marked's inline start()).
export function citationStart(src) {
  const i = src.search(/\[\d/);
  return i < 0 ? undefined : i;
}

export function citationButton(n, label) {
  return `<button type="button" class="cite" data-cite="${n}" data-testid="citation" aria-label="${escapeAttr(label)}">[${n}]</button>`;
}

// The citation with index n from a list (by its index field; falls back to position).
export function findCitation(citations, n) {
  if (!Array.isArray(citations)) return null;
  return citations.find((c) => Number(c.index) === Number(n)) ?? citations[n - 1] ?? null;
}

// Splits a cited chunk's text into [{text, mark}] around the words of a query (for highlighting
// inside the citation panel). Pure; no HTML.
export function highlightSegments(text, query) {
  const src = String(text ?? '');
  const words = String(query ?? '')
    .split(/\s+/)
    .map((w) => w.replace(/[^\p{L}\p{N}]/gu, ''))
    .filter((w) => w.length > 1 || /\p{Script=Han}/u.test(w));
  if (!words.length) return [{ text: src, mark: false }];
  const re = new RegExp(words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'giu');
  const out = [];
  let last = 0;
  for (const m of src.matchAll(re)) {
    if (m.index > last) out.push({ text: src.slice(last, m.index), mark: false });
    out.push({ text: m[0], mark: true });
    last = m.index + m[0].length;
  }
  if (last < src.length) out.push({ text: src.slice(last), mark: false });
  return out;
}

export function escapeAttr(s) {
  return String(s).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
