// Light / dark / system theme, remembered in localStorage; applied as <html data-theme>.
import { writable } from 'svelte/store';

const KEY = 'hearth.theme';
const MODES = ['system', 'light', 'dark'];

function initial() {
  try {
    const v = localStorage.getItem(KEY);
    if (MODES.includes(v)) return v;
  } catch {
    /* storage unavailable */
  }
  return 'system';
}

export const theme = writable(typeof window === 'undefined' ? 'system' : initial());

export function nextTheme(mode) {
  return MODES[(MODES.indexOf(mode) + 1) % MODES.length];
}

if (typeof window !== 'undefined') {
  theme.subscribe((mode) => {
    const root = document.documentElement;
    if (mode === 'system') root.removeAttribute('data-theme');
    else root.setAttribute('data-theme', mode);
    try {
      localStorage.setItem(KEY, mode);
    } catch {
      /* ignore */
    }
  });
}
