import { describe, it, expect } from 'vitest';
import { parseHash, hrefFor } from './router.js';

describe('router', () => {
  it('parses hashes', () => {
    expect(parseHash('')).toEqual({ view: 'chat', conv: null });
    expect(parseHash('#/')).toEqual({ view: 'chat', conv: null });
    expect(parseHash('#/c/conv_abc')).toEqual({ view: 'chat', conv: 'conv_abc' });
    expect(parseHash('#/admin')).toEqual({ view: 'admin', tab: null });
    expect(parseHash('#/admin/keys')).toEqual({ view: 'admin', tab: 'keys' });
    expect(parseHash('#/admin/bogus')).toEqual({ view: 'admin', tab: null });
    expect(parseHash('#/c/%E4%BD%A0')).toEqual({ view: 'chat', conv: '你' });
    expect(parseHash('#/c/%E4')).toEqual({ view: 'chat', conv: '%E4' });
  });
  it('round-trips', () => {
    for (const r of [{ view: 'chat', conv: null }, { view: 'chat', conv: 'conv_1' }, { view: 'admin', tab: 'audit' }]) {
      expect(parseHash(hrefFor(r))).toEqual(r.view === 'admin' ? r : { view: 'chat', conv: r.conv });
    }
  });
});
