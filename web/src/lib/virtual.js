// Geometry for the virtualised message list: offsets from measured (or estimated) heights,
// and the slice of items that intersects the viewport plus an overscan margin.

// Rough height before an item was measured: a line per ~70 characters, plus chrome.
export function estimateHeight(msg) {
  const text = (msg?.content?.length ?? 0) + (msg?.reasoning ? 40 : 0);
  const lines = Math.ceil(text / 70) + (String(msg?.content ?? '').match(/\n/g)?.length ?? 0) * 0.5;
  return Math.round(56 + Math.min(lines, 2000) * 22);
}

// offsets[i] = top of item i; offsets[n] = total height.
export function computeOffsets(items, heights, estimate = estimateHeight) {
  const n = items.length;
  const off = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) {
    const h = heights.get(items[i].key);
    off[i + 1] = off[i] + (h ?? estimate(items[i]));
  }
  return off;
}

// The largest i with offsets[i] <= y (0..n-1), by binary search.
export function indexAt(offsets, y) {
  const n = offsets.length - 1;
  if (n <= 0) return 0;
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (offsets[mid] <= y) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

// {start, end} (end exclusive) of the items to render.
export function visibleRange(offsets, scrollTop, viewport, overscan = 800) {
  const n = offsets.length - 1;
  if (n <= 0) return { start: 0, end: 0 };
  const start = indexAt(offsets, Math.max(0, scrollTop - overscan));
  const endIdx = indexAt(offsets, scrollTop + viewport + overscan);
  return { start, end: Math.min(n, endIdx + 1) };
}

// The item at the top of the viewport and how far into it the viewport starts: used to keep
// what the reader sees still while items above change height or older ones are prepended.
export function anchorAt(items, offsets, scrollTop) {
  if (!items.length) return null;
  const i = indexAt(offsets, scrollTop);
  return { key: items[i].key, delta: scrollTop - offsets[i] };
}

export function scrollTopFor(anchor, items, offsets, indexOfKey) {
  if (!anchor) return null;
  const i = indexOfKey(anchor.key);
  if (i < 0 || i >= items.length) return null;
  return offsets[i] + anchor.delta;
}

export function distanceFromBottom(el) {
  return el.scrollHeight - el.scrollTop - el.clientHeight;
}
