// The IME guard on real DOM events (jsdom): Enter that confirms an IME candidate never submits.
import { describe, it, expect, beforeAll } from 'vitest';
import { JSDOM } from 'jsdom';
import { imeGuard, createCompositionTracker } from './ime.js';

let window;
let document;
beforeAll(() => {
  window = new JSDOM('<!doctype html><body><div id="root"><form id="f"><input id="u"><button>go</button></form></div></body>').window;
  document = window.document;
});

function setup() {
  const root = document.getElementById('root');
  const q = [];
  const tracker = createCompositionTracker((fn) => q.push(fn));
  let clock = 1000;
  const guard = imeGuard(root, tracker, () => clock);
  let submitted = 0;
  const form = document.getElementById('f');
  const onSubmit = (e) => {
    e.preventDefault();
    submitted++;
  };
  form.addEventListener('submit', onSubmit);
  const input = document.getElementById('u');
  const fire = (type, init = {}) => {
    const E = type.startsWith('composition') ? window.CompositionEvent : window.KeyboardEvent;
    const ev = new E(type, { bubbles: true, cancelable: true, ...init });
    if (init.keyCode) Object.defineProperty(ev, 'keyCode', { value: init.keyCode });
    return input.dispatchEvent(ev);
  };
  const submit = () => form.dispatchEvent(new window.Event('submit', { bubbles: true, cancelable: true }));
  return { fire, submit, tick: () => q.splice(0).forEach((f) => f()), wait: (ms) => (clock += ms), count: () => submitted, done: () => { guard.destroy(); form.removeEventListener('submit', onSubmit); } };
}

describe('imeGuard', () => {
  it('lets a plain submit through', () => {
    const s = setup();
    s.submit();
    expect(s.count()).toBe(1);
    s.done();
  });

  it('blocks a submit while composing and right after compositionend', () => {
    const s = setup();
    s.fire('compositionstart');
    expect(s.fire('keydown', { key: 'Enter', keyCode: 229 })).toBe(false); // default prevented
    s.submit();
    s.fire('compositionend');
    s.submit(); // Safari: the Enter arrives after compositionend
    expect(s.count()).toBe(0);
    s.tick();
    s.submit(); // still within 100 ms of the blocked Enter
    expect(s.count()).toBe(0);
    s.wait(500);
    s.submit();
    expect(s.count()).toBe(1);
    s.done();
  });
});
