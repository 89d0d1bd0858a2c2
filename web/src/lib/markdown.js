// Model output -> safe HTML: marked (GFM) with math, citation and code extensions, then the
// sanitizer. Math is rendered by KaTeX before sanitising; the sanitizer keeps KaTeX's output.
import { Marked } from 'marked';
import DOMPurify from 'dompurify';
import { createSanitizer, isSafeImageSrc } from './sanitize.js';
import { mathExtensions, escapeText, hasMath, katexReady } from './math.js';
import { highlightCode } from './hl.js';
import { matchCitation, citationStart, citationButton } from './citations.js';

// Per-render context (rendering is synchronous, so one module-level slot is enough).
const DEFAULTS = { nonce: '', citations: 0, copyLabel: 'Copy', citeLabel: (n) => `Source ${n}`, streaming: false };
let ctx = DEFAULTS;

// Raw HTML in model output is shown as text, except a few attribute-less inline tags models use
// in tables and prose. (The sanitizer is the second line of defence either way.)
const RAW_OK = /^<\/?(?:br|sub|sup|kbd|mark|b|i|u|s|em|strong|small|del|ins|hr)\s*\/?>$/i;

const md = new Marked({ gfm: true, breaks: false, async: false });
md.use({
  extensions: [
    ...mathExtensions(() => ctx.nonce),
    {
      name: 'citation',
      level: 'inline',
      start(src) {
        return ctx.citations ? citationStart(src) : undefined;
      },
      tokenizer(src) {
        const m = matchCitation(src, ctx.citations);
        return m ? { type: 'citation', raw: m.raw, refs: m.refs } : undefined;
      },
      renderer(token) {
        return token.refs.map((n) => citationButton(n, ctx.citeLabel(n))).join('');
      },
    },
  ],
  renderer: {
    code({ text, lang }) {
      const { html, lang: used } = highlightCode(text, lang, { auto: !ctx.streaming });
      const safeLang = (used || '').replace(/[^\w+#.-]/g, '');
      return (
        `<div class="code-block"><div class="code-head"><span class="code-lang">${escapeText(safeLang)}</span>` +
        `<button type="button" class="copy-code" data-copy="">${escapeText(ctx.copyLabel)}</button></div>` +
        `<pre><code class="hljs${safeLang ? ` language-${safeLang}` : ''}">${html}</code></pre></div>\n`
      );
    },
    html({ text }) {
      const s = text.trim();
      if (RAW_OK.test(s)) return s.replace(/\s*\/?>$/, '>').replace(/^<(\/?)(\w+).*$/, '<$1$2>');
      return escapeText(text);
    },
    image({ href, title, text }) {
      if (isSafeImageSrc(href)) {
        return `<img src="${escapeText(href)}" alt="${escapeText(text)}"${title ? ` title="${escapeText(title)}"` : ''}>`;
      }
      return `<a class="img-link" href="${escapeText(href)}">${escapeText(text || href)}</a>`;
    },
    checkbox({ checked }) {
      return checked ? '☑ ' : '☐ ';
    },
  },
});

let sanitizeImpl = null;
// Tests (or another host) supply a DOMPurify bound to their window.
export function setPurifier(purify) {
  sanitizeImpl = createSanitizer(purify);
}
function sanitizer() {
  if (!sanitizeImpl) sanitizeImpl = createSanitizer(DOMPurify);
  return sanitizeImpl;
}

function randomNonce() {
  const a = new Uint32Array(2);
  crypto.getRandomValues(a);
  return a[0].toString(36) + a[1].toString(36);
}

// options: citations (how many [n] are valid), copyLabel, citeLabel(n), streaming
export function renderMarkdown(src, options = {}) {
  const nonce = randomNonce();
  ctx = { ...DEFAULTS, ...options, nonce };
  let html;
  try {
    html = md.parse(String(src ?? ''));
  } finally {
    ctx = DEFAULTS;
  }
  return sanitizer()(html, nonce);
}

// Rendered HTML per message, so a message scrolled back into view is not parsed again.
const cache = new Map();
const CACHE_MAX = 1500;

function fnv(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return (h >>> 0).toString(36);
}

export function renderCached(key, src, options = {}) {
  const k = `${key}|${src.length}|${fnv(src)}|${options.citations || 0}|${options.copyLabel}|${katexReady() ? 1 : 0}`;
  const hit = cache.get(k);
  if (hit !== undefined) {
    cache.delete(k);
    cache.set(k, hit);
    return hit;
  }
  const html = renderMarkdown(src, options);
  cache.set(k, html);
  if (cache.size > CACHE_MAX) cache.delete(cache.keys().next().value);
  return html;
}

export function cacheSize() {
  return cache.size;
}

export { hasMath };
