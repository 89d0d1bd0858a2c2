import { describe, it, expect } from 'vitest';
import { parseNDJSON, filterAudit, pivotUsage, niceTicks, rolesFrom, canAdmin, compactNumber } from './admin.js';

describe('admin helpers', () => {
  it('parses NDJSON, skipping blank and torn lines', () => {
    expect(parseNDJSON('{"a":1}\n\n{"b":2}\r\n{"c":')).toEqual([{ a: 1 }, { b: 2 }]);
  });

  it('filters audit records by action, principal and status (exact or Nxx)', () => {
    const recs = [
      { action: 'chat.completions.create', principal: 'user:alice', status: 200 },
      { action: 'auth.failure', principal: 'hk-x', status: 401 },
      { action: 'admin.keys.delete', principal: 'user:root', status: 404 },
    ];
    expect(filterAudit(recs, { action: 'chat' })).toHaveLength(1);
    expect(filterAudit(recs, { status: '4xx' }).map((r) => r.status)).toEqual([401, 404]);
    expect(filterAudit(recs, { status: '401' })).toHaveLength(1);
    expect(filterAudit(recs, { principal: 'USER:' })).toHaveLength(2);
    expect(filterAudit(recs, {})).toHaveLength(3);
  });

  it('pivots usage rows into a stacked matrix, folding small groups', () => {
    const rows = [
      { t: 2000, group: 'a', requests: 1, prompt_tokens: 10, completion_tokens: 5 },
      { t: 1000, group: 'a', requests: 2, prompt_tokens: 1, completion_tokens: 1 },
      { t: 1000, group: 'b', requests: 3, prompt_tokens: 100, completion_tokens: 0 },
    ];
    const p = pivotUsage(rows, 'tokens');
    expect(p.times).toEqual([1000, 2000]);
    expect(p.groups).toEqual(['b', 'a']);
    expect(p.values).toEqual([[100, 0], [2, 15]]);
    expect(p.stackMax).toBe(102);
    const req = pivotUsage(rows, 'requests');
    expect(req.groups).toEqual(['a', 'b']); // a tie keeps first-seen order
    expect(req.values).toEqual([[2, 1], [3, 0]]);
    const many = Array.from({ length: 12 }, (_, i) => ({ t: 0, group: `g${i}`, requests: i + 1 }));
    const f = pivotUsage(many, 'requests', 4);
    expect(f.groups).toEqual(['g11', 'g10', 'g9', 'other']);
    expect(f.values[3][0]).toBe(45); // 1+...+9
  });

  it('makes nice ticks and compact numbers', () => {
    expect(niceTicks(95)).toEqual([0, 25, 50, 75, 100]);
    expect(niceTicks(0)).toEqual([0, 1]);
    expect(compactNumber(1530)).toBe('1.5k');
    expect(compactNumber(2500000)).toBe('2.5M');
  });

  it('collects roles from users and keys', () => {
    expect(rolesFrom([{ role: 'admin' }, { role: 'user' }, { role: 'user' }], [{ role: 'user' }, { role: 'ops' }])).toEqual([
      { role: 'admin', users: 1, keys: 0 },
      { role: 'ops', users: 0, keys: 1 },
      { role: 'user', users: 2, keys: 1 },
    ]);
  });

  it('shows the admin area only with an admin permission', () => {
    expect(canAdmin({ permissions: ['models.read', 'inference', 'account'] })).toBe(false);
    expect(canAdmin({ permissions: ['models.read', 'knowledge.read', 'account'] })).toBe(false); // viewer
    expect(canAdmin({ permissions: ['keys.manage'] })).toBe(true);
    expect(canAdmin({ permissions: ['audit.read'] })).toBe(true);
    expect(canAdmin(null)).toBe(false);
  });
});
