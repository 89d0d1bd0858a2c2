// Math in answers: $...$, $$...$$, \(...\), \[...\] as marked extensions rendered by KaTeX.
// KaTeX (and its CSS and fonts) is a separate chunk, loaded the first time a message has math.

let katex = null;
let loading = null;

export function katexReady() {
  return !!katex;
}

export function setKatex(k) {
  katex = k;
}

export function loadKatex() {
  if (katex) return Promise.resolve(katex);
  if (!loading) {
    loading = import('./katex-chunk.js').then((m) => {
      katex = m.default;
      return katex;
    });
    loading.catch(() => {
      loading = null;
    });
  }
  return loading;
}

// Cheap check: could this text contain math? (false positives only cost a chunk load)
const MATH_HINT = /\$\$[\s\S]+?\$\$|\\\([\s\S]+?\\\)|\\\[[\s\S]+?\\\]|(?:^|[^\\$\w])\$(?=\S)[^$\n]*?\S\$(?!\d)/;
export function hasMath(src) {
  return MATH_HINT.test(src || '');
}

export function escapeText(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

// Renders TeX to HTML inside a wrapper carrying the render's nonce (see sanitize.js).
// block: a block-level token (a <div>); inline display math stays a <span> (shown as a block by CSS).
export function renderTex(tex, display, nonce, block = false) {
  const cls = display ? 'math-display' : 'math-inline';
  const tag = block ? 'div' : 'span';
  if (!katex) return `<${tag} class="${cls}"><code class="math-src">${escapeText(tex)}</code></${tag}>`;
  let html;
  try {
    html = katex.renderToString(tex, { displayMode: display, throwOnError: false, trust: false, strict: 'ignore', output: 'htmlAndMathml', maxExpand: 1000, maxSize: 50 });
  } catch {
    return `<${tag} class="${cls}"><code class="math-src">${escapeText(tex)}</code></${tag}>`;
  }
  return `<${tag} class="${cls}" data-kx="${nonce}">${html}</${tag}>`;
}

const BLOCK = [/^\$\$([\s\S]+?)\$\$[ \t]*(?:\n+|$)/, /^\\\[([\s\S]+?)\\\][ \t]*(?:\n+|$)/];
const INLINE = [
  [/^\$\$([\s\S]+?)\$\$/, true],
  [/^\\\[([\s\S]+?)\\\]/, true],
  [/^\\\(([\s\S]+?)\\\)/, false],
  [/^\$(?!\s)((?:\\.|[^\\$\n])+?)(?<!\s)\$(?!\d)/, false],
];

// Marked extensions; getNonce() returns the current render's nonce.
export function mathExtensions(getNonce) {
  return [
    {
      name: 'mathBlock',
      level: 'block',
      start(src) {
        const i = src.search(/(?:^|\n)(?:\$\$|\\\[)/);
        return i < 0 ? undefined : src[i] === '\n' ? i + 1 : i;
      },
      tokenizer(src) {
        for (const re of BLOCK) {
          const m = re.exec(src);
          if (m) return { type: 'mathBlock', raw: m[0], text: m[1].trim() };
        }
        return undefined;
      },
      renderer(token) {
        return renderTex(token.text, true, getNonce(), true) + '\n';
      },
    },
    {
      name: 'mathInline',
      level: 'inline',
      start(src) {
        const i = src.search(/\$|\\[([]/);
        return i < 0 ? undefined : i;
      },
      tokenizer(src) {
        for (const [re, display] of INLINE) {
          const m = re.exec(src);
          if (m) return { type: 'mathInline', raw: m[0], text: m[1].trim(), display };
        }
        return undefined;
      },
      renderer(token) {
        return renderTex(token.text, token.display, getNonce());
      },
    },
  ];
}
