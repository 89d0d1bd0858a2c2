// Pure helpers for the admin area: NDJSON, audit filters, usage pivots and chart scales.

export function parseNDJSON(text) {
  const out = [];
  for (const line of String(text ?? '').split(/\r?\n/)) {
    const s = line.trim();
    if (!s) continue;
    try {
      out.push(JSON.parse(s));
    } catch {
      /* skip a torn line */
    }
  }
  return out;
}

// filter: {action, status, principal, text} (all optional; client side, after from/to/principal
// were sent to the server).
export function filterAudit(records, { action = '', status = '', principal = '' } = {}) {
  const a = action.trim().toLowerCase();
  const p = principal.trim().toLowerCase();
  const st = String(status).trim();
  return records.filter((r) => {
    if (a && !String(r.action ?? '').toLowerCase().includes(a)) return false;
    if (p && !String(r.principal ?? '').toLowerCase().includes(p)) return false;
    if (st) {
      const s = String(r.status ?? '');
      if (/^\dxx$/i.test(st)) {
        if (s[0] !== st[0]) return false;
      } else if (s !== st) return false;
    }
    return true;
  });
}

// Usage rows {t, group, requests, prompt_tokens, completion_tokens} -> a matrix for a stacked
// chart: {times (sorted), groups (largest first, the rest folded into "other" past maxGroups),
// values[g][i]} for the metric ('tokens' = prompt + completion, 'requests', 'prompt_tokens',
// 'completion_tokens').
export function pivotUsage(rows, metric = 'tokens', maxGroups = 8) {
  const val = (r) =>
    metric === 'tokens' ? (r.prompt_tokens ?? 0) + (r.completion_tokens ?? 0) : Number(r[metric] ?? 0);
  const times = [...new Set(rows.map((r) => Number(r.t)))].sort((a, b) => a - b);
  const totals = new Map();
  for (const r of rows) totals.set(r.group ?? '', (totals.get(r.group ?? '') ?? 0) + val(r));
  let groups = [...totals.entries()].sort((a, b) => b[1] - a[1]).map(([g]) => g);
  let folded = false;
  if (groups.length > maxGroups) {
    groups = groups.slice(0, maxGroups - 1);
    folded = true;
  }
  const gi = new Map(groups.map((g, i) => [g, i]));
  if (folded) groups.push('other');
  const ti = new Map(times.map((t, i) => [t, i]));
  const values = groups.map(() => new Array(times.length).fill(0));
  for (const r of rows) {
    const g = gi.has(r.group ?? '') ? gi.get(r.group ?? '') : groups.length - 1;
    values[g][ti.get(Number(r.t))] += val(r);
  }
  const stackMax = times.reduce((mx, _, i) => Math.max(mx, values.reduce((s, v) => s + v[i], 0)), 0);
  return { times, groups, values, stackMax, folded };
}

// "Nice" axis ticks from 0 to at least max.
export function niceTicks(max, count = 4) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

export function compactNumber(n) {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

// Roles seen in users and keys: [{role, users, keys}], sorted by name.
export function rolesFrom(users = [], keys = []) {
  const m = new Map();
  const bump = (role, f) => {
    if (!role) return;
    const r = m.get(role) ?? { role, users: 0, keys: 0 };
    r[f]++;
    m.set(role, r);
  };
  users.forEach((u) => bump(u.role, 'users'));
  keys.forEach((k) => bump(k.role, 'keys'));
  return [...m.values()].sort((a, b) => a.role.localeCompare(b.role));
}

export const ADMIN_PERMISSIONS = ['users.manage', 'keys.manage', 'audit.read'];

export function canAdmin(me) {
  const p = me?.permissions ?? [];
  return ADMIN_PERMISSIONS.some((x) => p.includes(x));
}

export function has(me, perm) {
  return (me?.permissions ?? []).includes(perm);
}
