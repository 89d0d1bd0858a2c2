import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dictionaries, translate, detectLocale, LOCALES } from './i18n.js';

const src = fileURLToPath(new URL('..', import.meta.url));
function files(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

describe('i18n', () => {
  it('every key is in both dictionaries, none empty', () => {
    const en = Object.keys(dictionaries.en).sort();
    const zh = Object.keys(dictionaries.zh).sort();
    expect(zh).toEqual(en);
    for (const l of LOCALES) for (const [k, v] of Object.entries(dictionaries[l])) expect(v, `${l}:${k}`).toBeTruthy();
  });

  it('no key is written twice in a dictionary (a later duplicate would silently win)', () => {
    const text = readFileSync(fileURLToPath(new URL('./i18n.js', import.meta.url)), 'utf8');
    for (const name of ['en', 'zh']) {
      const body = text.slice(text.indexOf(`export const ${name} = {`), text.indexOf('};', text.indexOf(`export const ${name} = {`)));
      const keys = [...body.matchAll(/^\s*"([\w.]+)":/gm)].map((m) => m[1]);
      expect(keys.length).toBe(Object.keys(dictionaries[name]).length);
    }
  });

  it('placeholders match between languages', () => {
    const ph = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const k of Object.keys(dictionaries.en)) expect(ph(dictionaries.zh[k]), k).toEqual(ph(dictionaries.en[k]));
  });

  it('every literal key used in the source exists', () => {
    const used = new Set();
    for (const f of files(src)) {
      if (!/\.(svelte|js)$/.test(f) || f.endsWith('.test.js')) continue;
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/\$t\(\s*'([\w.]+)'/g)) used.add(m[1]);
      for (const m of text.matchAll(/\bkey: '([\w.]+)'/g)) used.add(m[1]);
    }
    expect(used.size).toBeGreaterThan(150);
    const missing = [...used].filter((k) => !(k in dictionaries.en));
    expect(missing).toEqual([]);
  });

  it('strings with {placeholders} get parameters and strings without get none', () => {
    const bad = [];
    for (const f of files(src)) {
      if (!/\.svelte$/.test(f)) continue;
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/\$t\(\s*'([\w.]+)'\s*(,)?/g)) {
        const str = dictionaries.en[m[1]] ?? '';
        const needs = /\{\w+\}/.test(str);
        if (needs !== !!m[2]) bad.push(`${f.split('/').pop()}: ${m[1]}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('dynamic key families are complete', () => {
    for (const s of ['ready', 'loading', 'unloaded']) expect(dictionaries.en[`model.state.${s}`]).toBeTruthy();
    for (const s of ['queued', 'running', 'succeeded', 'failed']) expect(dictionaries.en[`jobs.status.${s}`]).toBeTruthy();
    for (const s of ['users', 'keys', 'audit', 'usage', 'models', 'knowledge']) expect(dictionaries.en[`admin.tab.${s}`]).toBeTruthy();
    for (const s of ['system', 'light', 'dark']) expect(dictionaries.en[`theme.${s}`]).toBeTruthy();
    for (const s of ['user', 'assistant', 'system']) expect(dictionaries.en[`role.${s}`]).toBeTruthy();
  });

  it('translates with parameters and falls back to English, then the key', () => {
    expect(translate('zh', 'action.send')).toBe('发送');
    expect(translate('en', 'signin.oidc', { name: 'Okta' })).toBe('Sign in with Okta');
    expect(translate('zh', 'signin.oidc', { name: 'Okta' })).toBe('使用 Okta 登录');
    expect(translate('fr', 'action.send')).toBe('Send');
    expect(translate('zh', 'no.such.key')).toBe('no.such.key');
    expect(translate('en', 'stats.tokens', { prompt: 0, completion: 3 })).toBe('0 → 3 tokens');
    expect(translate('en', 'signin.oidc')).toBe('Sign in with {name}');
  });

  it('follows navigator.languages: zh* -> zh, else en', () => {
    expect(detectLocale(['zh-CN', 'en'])).toBe('zh');
    expect(detectLocale(['zh-TW'])).toBe('zh');
    expect(detectLocale(['zh-Hans-CN'])).toBe('zh');
    expect(detectLocale(['fr-FR', 'zh'])).toBe('zh');
    expect(detectLocale(['en-US', 'zh-CN'])).toBe('en');
    expect(detectLocale(['de'])).toBe('en');
    expect(detectLocale([])).toBe('en');
    expect(detectLocale(undefined)).toBe('en');
  });
});
