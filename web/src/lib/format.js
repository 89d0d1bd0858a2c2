// Small pure formatting helpers.

// Retry-After is either delta-seconds or an HTTP date. Returns whole seconds (>= 0) or null.
export function parseRetryAfter(value, now = Date.now()) {
  if (value == null) return null;
  const s = String(value).trim();
  if (!s) return null;
  if (/^\d+(\.\d+)?$/.test(s)) return Math.max(0, Math.ceil(Number(s)));
  const t = Date.parse(s);
  if (Number.isNaN(t)) return null;
  return Math.max(0, Math.ceil((t - now) / 1000));
}

// 75 -> "1 min 15 s" style pieces; the caller passes a translator for the units.
export function formatWait(seconds, t = defaultT) {
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 60) return t('unit.seconds', { n: s });
  const m = Math.floor(s / 60);
  const r = s % 60;
  if (m < 60) return r ? `${t('unit.minutes', { n: m })} ${t('unit.seconds', { n: r })}` : t('unit.minutes', { n: m });
  const h = Math.floor(m / 60);
  const rm = m % 60;
  return rm ? `${t('unit.hours', { n: h })} ${t('unit.minutes', { n: rm })}` : t('unit.hours', { n: h });
}

function defaultT(key, p) {
  return { 'unit.seconds': `${p.n} s`, 'unit.minutes': `${p.n} min`, 'unit.hours': `${p.n} h` }[key];
}

// Tokens per second for an answer. Prefers the server's decode time (timings.predicted_ms);
// else the measured time between the first and the last token on the client.
export function tokensPerSecond(usage, timings, measuredMs) {
  const n = usage?.completion_tokens ?? timings?.predicted_n;
  if (!n || n <= 0) return null;
  const ms = timings?.predicted_ms > 0 ? timings.predicted_ms : measuredMs > 0 ? measuredMs : null;
  if (!ms) return null;
  return n / (ms / 1000);
}

export function formatRate(tps) {
  if (tps == null || !Number.isFinite(tps)) return '';
  return tps >= 100 ? tps.toFixed(0) : tps.toFixed(1);
}

export function formatMs(ms) {
  if (ms == null || !Number.isFinite(ms)) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

export function formatSeconds(ms) {
  if (ms == null || !Number.isFinite(ms)) return '';
  return (ms / 1000).toFixed(1);
}

export function formatBytes(n) {
  if (!Number.isFinite(n)) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function formatNumber(n, locale) {
  if (n == null || !Number.isFinite(n)) return '';
  return new Intl.NumberFormat(locale).format(n);
}

// Seconds or milliseconds since the epoch -> Date (the API uses seconds; the audit log ms).
export function toDate(v) {
  if (v == null) return null;
  const n = Number(v);
  if (!Number.isFinite(n)) return null;
  return new Date(n < 1e11 ? n * 1000 : n);
}

export function formatDateTime(v, locale) {
  const d = toDate(v);
  if (!d) return '';
  return d.toLocaleString(locale, { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
}

// A load progress value from /health: a fraction 0..1 or a percentage 0..100 -> 0..100, or null.
export function loadPercent(load) {
  if (load == null) return null;
  if (typeof load === 'object') {
    if (load.total > 0 && load.done != null) return clamp((100 * load.done) / load.total);
    if (load.progress != null) return loadPercent(load.progress);
    return null;
  }
  const n = Number(load);
  if (!Number.isFinite(n)) return null;
  return clamp(n <= 1 ? n * 100 : n);
}

function clamp(p) {
  return Math.max(0, Math.min(100, Math.round(p)));
}
