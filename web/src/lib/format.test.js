import { describe, it, expect } from 'vitest';
import { parseRetryAfter, formatWait, tokensPerSecond, formatRate, loadPercent, formatMs } from './format.js';
import { translate } from './i18n.js';

describe('Retry-After', () => {
  it('reads delta seconds, rounding up', () => {
    expect(parseRetryAfter('7')).toBe(7);
    expect(parseRetryAfter('2.1')).toBe(3);
    expect(parseRetryAfter(' 0 ')).toBe(0);
  });
  it('reads an HTTP date relative to now', () => {
    const now = Date.parse('Wed, 21 Oct 2026 07:28:00 GMT');
    expect(parseRetryAfter('Wed, 21 Oct 2026 07:28:30 GMT', now)).toBe(30);
    expect(parseRetryAfter('Wed, 21 Oct 2026 07:27:00 GMT', now)).toBe(0);
  });
  it('gives null for nothing or garbage', () => {
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter('')).toBeNull();
    expect(parseRetryAfter('soon')).toBeNull();
  });
  it('formats waits in both languages', () => {
    const en = (k, p) => translate('en', k, p);
    const zh = (k, p) => translate('zh', k, p);
    expect(formatWait(5, en)).toBe('5 s');
    expect(formatWait(75, en)).toBe('1 min 15 s');
    expect(formatWait(120, en)).toBe('2 min');
    expect(formatWait(3700, en)).toBe('1 h 1 min');
    expect(formatWait(5, zh)).toBe('5 秒');
    expect(translate('en', 'error.rateLimitedWait', { wait: formatWait(12, en) })).toBe('Too many requests, retry in 12 s.');
  });
});

describe('tokens per second', () => {
  it('prefers the server decode time', () => {
    expect(tokensPerSecond({ completion_tokens: 50 }, { predicted_ms: 1000 }, 5000)).toBe(50);
  });
  it('falls back to the measured time', () => {
    expect(tokensPerSecond({ completion_tokens: 30 }, null, 1500)).toBe(20);
    expect(tokensPerSecond({ completion_tokens: 30 }, { predicted_ms: 0 }, 3000)).toBe(10);
  });
  it('uses timings.predicted_n when usage is missing', () => {
    expect(tokensPerSecond(null, { predicted_n: 16, predicted_ms: 22.9 })).toBeCloseTo(698.7, 1);
  });
  it('is null without tokens or time', () => {
    expect(tokensPerSecond(null, null, 1000)).toBeNull();
    expect(tokensPerSecond({ completion_tokens: 0 }, { predicted_ms: 10 })).toBeNull();
    expect(tokensPerSecond({ completion_tokens: 10 }, null, 0)).toBeNull();
  });
  it('formats rates and durations', () => {
    expect(formatRate(12.345)).toBe('12.3');
    expect(formatRate(150.6)).toBe('151');
    expect(formatRate(null)).toBe('');
    expect(formatMs(420)).toBe('420 ms');
    expect(formatMs(1234)).toBe('1.23 s');
  });
});

describe('load progress', () => {
  it('accepts fractions, percentages and done/total', () => {
    expect(loadPercent(0.42)).toBe(42);
    expect(loadPercent(57)).toBe(57);
    expect(loadPercent({ done: 1, total: 4 })).toBe(25);
    expect(loadPercent(null)).toBeNull();
    expect(loadPercent(3000)).toBe(100);
  });
});
