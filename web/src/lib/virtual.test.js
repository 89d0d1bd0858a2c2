import { describe, it, expect } from 'vitest';
import { computeOffsets, indexAt, visibleRange, anchorAt, scrollTopFor, estimateHeight } from './virtual.js';

const items = (n) => Array.from({ length: n }, (_, i) => ({ key: `k${i}`, content: 'x'.repeat(i % 7 * 100) }));

describe('virtual list geometry', () => {
  it('offsets use measured heights, else estimates', () => {
    const it3 = items(3);
    const off = computeOffsets(it3, new Map([['k1', 50]]), () => 100);
    expect([...off]).toEqual([0, 100, 150, 250]);
  });

  it('finds the item at a position', () => {
    const off = Float64Array.from([0, 100, 150, 250]);
    expect(indexAt(off, 0)).toBe(0);
    expect(indexAt(off, 99)).toBe(0);
    expect(indexAt(off, 100)).toBe(1);
    expect(indexAt(off, 249)).toBe(2);
    expect(indexAt(off, 10000)).toBe(2);
  });

  it('renders only what is near the viewport, for 1,000 messages', () => {
    const list = items(1000);
    const off = computeOffsets(list, new Map(), () => 100);
    const r = visibleRange(off, 50000, 800, 400);
    expect(r.start).toBe(496);
    expect(r.end).toBe(513);
    expect(r.end - r.start).toBeLessThan(30);
    const bottom = visibleRange(off, off[1000] - 800, 800, 400);
    expect(bottom.end).toBe(1000);
    expect(visibleRange(new Float64Array(1), 0, 800)).toEqual({ start: 0, end: 0 });
  });

  it('keeps the reader in place when older messages are prepended', () => {
    const list = items(10);
    const h = new Map();
    const off = computeOffsets(list, h, () => 100);
    const anchor = anchorAt(list, off, 530); // 30 px into k5
    expect(anchor).toEqual({ key: 'k5', delta: 30 });
    const older = [{ key: 'o1' }, { key: 'o2' }, ...list];
    const off2 = computeOffsets(older, h, () => 100);
    const idx = new Map(older.map((m, i) => [m.key, i]));
    expect(scrollTopFor(anchor, older, off2, (k) => idx.get(k) ?? -1)).toBe(730);
  });

  it('estimates grow with the text', () => {
    expect(estimateHeight({ content: '' })).toBeLessThan(estimateHeight({ content: 'x'.repeat(2000) }));
  });
});
