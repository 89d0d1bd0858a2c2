// A tiny hash router: #/ (new chat), #/c/<conversation id>, #/admin[/<tab>].
// Hash routes need nothing from the server beyond serving index.html at /.
import { readable } from 'svelte/store';

export const ADMIN_TABS = ['users', 'keys', 'audit', 'usage', 'models', 'knowledge'];

export function parseHash(hash) {
  const h = String(hash || '').replace(/^#/, '');
  const parts = h.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  if (parts[0] === 'admin') return { view: 'admin', tab: ADMIN_TABS.includes(parts[1]) ? parts[1] : null };
  if (parts[0] === 'c' && parts[1]) return { view: 'chat', conv: parts[1] };
  return { view: 'chat', conv: null };
}

export function hrefFor(r) {
  if (r.view === 'admin') return r.tab ? `#/admin/${r.tab}` : '#/admin';
  if (r.conv) return `#/c/${encodeURIComponent(r.conv)}`;
  return '#/';
}

export const route = readable(parseHash(typeof location !== 'undefined' ? location.hash : ''), (set) => {
  if (typeof window === 'undefined') return undefined;
  const on = () => set(parseHash(location.hash));
  window.addEventListener('hashchange', on);
  return () => window.removeEventListener('hashchange', on);
});

export function navigate(r, { replace = false } = {}) {
  const href = typeof r === 'string' ? r : hrefFor(r);
  if (location.hash === href) return;
  if (replace) {
    history.replaceState(history.state, '', href);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    location.hash = href;
  }
}
