import { describe, it, expect } from 'vitest';
import { createCompositionTracker, enterAction, isComposingEvent } from './ime.js';

const key = (over = {}) => ({ key: 'Enter', keyCode: 13, isComposing: false, shiftKey: false, ...over });

function manualTracker() {
  const q = [];
  const tr = createCompositionTracker((fn) => q.push(fn));
  return { tr, tick: () => q.splice(0).forEach((f) => f()) };
}

describe('Enter in the composer', () => {
  it('plain Enter sends, Shift+Enter is a new line', () => {
    const { tr } = manualTracker();
    expect(enterAction(key(), tr)).toBe('send');
    expect(enterAction(key({ shiftKey: true }), tr)).toBe('newline');
  });

  it('other keys do nothing', () => {
    expect(enterAction({ key: 'a', keyCode: 65 }, null)).toBe('none');
  });

  it('never sends while an IME composes (isComposing)', () => {
    expect(enterAction(key({ isComposing: true }), null)).toBe('block');
    expect(enterAction(key({ isComposing: true, shiftKey: true }), null)).toBe('block');
  });

  it('never sends for keyCode 229 (IME processing)', () => {
    expect(enterAction(key({ keyCode: 229 }), null)).toBe('block');
    expect(enterAction({ key: 'Process', keyCode: 229, code: 'Enter' }, null)).toBe('block');
    expect(isComposingEvent({ which: 229 }, null)).toBe(true);
  });

  it('blocks between compositionstart and one tick after compositionend (Safari order)', () => {
    const { tr, tick } = manualTracker();
    tr.start();
    expect(enterAction(key(), tr)).toBe('block');
    tr.end();
    // Safari: compositionend fires first, then the confirming Enter's keydown with isComposing false
    expect(enterAction(key(), tr)).toBe('block');
    tick();
    expect(enterAction(key(), tr)).toBe('send');
  });

  it('a new composition during the settling tick keeps blocking', () => {
    const { tr, tick } = manualTracker();
    tr.start();
    tr.end();
    tr.start();
    tick();
    expect(tr.composing).toBe(true);
    expect(enterAction(key(), tr)).toBe('block');
    tr.end();
    tick();
    expect(tr.composing).toBe(false);
  });

  it('single-line fields (sign-in form): Enter submits, IME Enter never does', () => {
    const { tr } = manualTracker();
    expect(enterAction(key(), tr, { multiline: false })).toBe('send');
    expect(enterAction(key({ shiftKey: true }), tr, { multiline: false })).toBe('send');
    expect(enterAction(key({ isComposing: true }), tr, { multiline: false })).toBe('block');
    tr.start();
    expect(enterAction(key(), tr, { multiline: false })).toBe('block');
  });
});
