// The sanitizer every piece of model output passes through before it reaches the DOM.
// DOMPurify with an allow-list: the tags markdown produces, KaTeX's HTML and MathML, and the
// app's own citation and copy buttons. No script, style, iframe, object, form, event handler or
// script-capable URL survives. `style` is kept only inside KaTeX output, which the renderer wraps
// in an element carrying a per-render random nonce (model text cannot know it).

const HTML_TAGS = [
  'a', 'abbr', 'b', 'blockquote', 'br', 'button', 'code', 'dd', 'del', 'details', 'div', 'dl', 'dt',
  'em', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'i', 'img', 'ins', 'kbd', 'li', 'mark', 'ol', 'p',
  'pre', 'q', 's', 'samp', 'small', 'span', 'strong', 'sub', 'summary', 'sup', 'table', 'tbody', 'td',
  'tfoot', 'th', 'thead', 'tr', 'u', 'ul', 'var',
  // KaTeX (HTML output)
  'svg', 'path', 'line',
];
const MATHML_TAGS = [
  'math', 'semantics', 'annotation', 'mrow', 'mi', 'mn', 'mo', 'ms', 'mtext', 'mspace', 'msup', 'msub',
  'msubsup', 'mfrac', 'msqrt', 'mroot', 'mover', 'munder', 'munderover', 'mtable', 'mtr', 'mtd',
  'mlabeledtr', 'mpadded', 'mphantom', 'menclose', 'mstyle', 'merror', 'mmultiscripts', 'mprescripts',
  'none',
];
const ATTRS = [
  'href', 'title', 'alt', 'src', 'class', 'colspan', 'rowspan', 'align', 'start', 'type', 'open',
  'lang', 'dir', 'aria-hidden', 'aria-label', 'role', 'data-cite', 'data-copy', 'data-testid',
  'data-kx', 'data-lang', 'style',
  // MathML
  'encoding', 'mathvariant', 'display', 'displaystyle', 'scriptlevel', 'stretchy', 'fence',
  'separator', 'lspace', 'rspace', 'accent', 'accentunder', 'columnalign', 'rowalign',
  'columnspacing', 'rowspacing', 'columnlines', 'rowlines', 'frame', 'width', 'height', 'depth',
  'minsize', 'maxsize', 'movablelimits', 'notation', 'linethickness', 'mathsize', 'mathcolor',
  'voffset', 'symmetric', 'largeop', 'xmlns',
  // KaTeX SVG
  'd', 'viewbox', 'preserveaspectratio', 'x1', 'x2', 'y1', 'y2', 'stroke-width',
];
const FORBID = ['script', 'style', 'iframe', 'frame', 'frameset', 'object', 'embed', 'form', 'input',
  'textarea', 'select', 'option', 'link', 'meta', 'base', 'template', 'noscript', 'foreignobject',
  'animate', 'set', 'use', 'image', 'video', 'audio', 'source', 'track', 'portal', 'annotation-xml'];

// http(s), mailto, in-page anchors and same-origin relative paths only.
const SAFE_URL = /^(?:https?:|mailto:|#|\/(?!\/)|\.{1,2}\/|[^:/?#]+(?:[/?#]|$))/i;
// Classes model HTML may carry outside KaTeX (the app styles these; anything else is dropped).
const SAFE_CLASS = /^(?:hljs(?:-[\w-]+)?|language-[\w+#.-]+|code-block|code-head|code-lang|copy-code|cite|math-src|math-display|math-inline|md-table|img-link)$/;
const DATA_IMAGE = /^data:image\/(?:png|jpe?g|gif|webp);base64,[a-z0-9+/=\s]+$/i;

export function isSafeUrl(url) {
  const u = String(url ?? '').replace(/[\u0000-\u0020\u007f-\u009f]/g, '');
  return SAFE_URL.test(u);
}

// Same-origin relative image sources and inline raster images may load; remote images may not
// (a model could leak the conversation through an image URL).
export function isSafeImageSrc(src) {
  const s = String(src ?? '').trim();
  if (DATA_IMAGE.test(s)) return true;
  return /^\/(?!\/)/.test(s) || /^\.{1,2}\//.test(s);
}

// purify: a DOMPurify instance bound to a window. Returns sanitize(html, nonce) -> string.
export function createSanitizer(purify) {
  if (!purify || !purify.isSupported) throw new Error('DOMPurify is not supported here: refusing to render HTML');
  let nonce = '';

  purify.addHook('uponSanitizeAttribute', (node, data) => {
    const name = data.attrName;
    const inKatex = () => !!nonce && !!node.closest?.(`[data-kx="${nonce}"]`);
    if (name.startsWith('on')) {
      data.keepAttr = false;
      return;
    }
    if (name === 'data-kx') {
      data.keepAttr = !!nonce && data.attrValue === nonce;
      data.forceKeepAttr = data.keepAttr || undefined;
      return;
    }
    if (name === 'style' || ['d', 'viewbox', 'preserveaspectratio', 'x1', 'x2', 'y1', 'y2', 'stroke-width', 'width', 'height'].includes(name)) {
      if (!inKatex()) data.keepAttr = false;
      return;
    }
    if (name === 'class') {
      if (inKatex()) return;
      const kept = data.attrValue.split(/\s+/).filter((c) => SAFE_CLASS.test(c));
      if (kept.length) data.attrValue = kept.join(' ');
      else data.keepAttr = false;
      return;
    }
    if (name === 'data-testid' && data.attrValue !== 'citation') {
      data.keepAttr = false;
      return;
    }
    if (name === 'type' && node.nodeName !== 'BUTTON' && node.nodeName !== 'OL') {
      data.keepAttr = false;
      return;
    }
    if (name === 'href' && !isSafeUrl(data.attrValue)) {
      data.keepAttr = false;
      return;
    }
    if (name === 'src' && (node.nodeName !== 'IMG' || !isSafeImageSrc(data.attrValue))) {
      data.keepAttr = false;
    }
  });

  purify.addHook('afterSanitizeAttributes', (node) => {
    if (node.nodeName === 'A') {
      if (node.hasAttribute('href')) {
        const href = node.getAttribute('href');
        if (!href.startsWith('#')) {
          node.setAttribute('target', '_blank');
          node.setAttribute('rel', 'noopener noreferrer');
        }
      }
    }
    if (node.nodeName === 'BUTTON') {
      node.setAttribute('type', 'button');
    }
  });

  const config = {
    ALLOWED_TAGS: [...HTML_TAGS, ...MATHML_TAGS],
    ALLOWED_ATTR: ATTRS,
    FORBID_TAGS: FORBID,
    ALLOW_DATA_ATTR: false,
    ALLOW_ARIA_ATTR: false,
    ALLOW_UNKNOWN_PROTOCOLS: false,
    ALLOWED_URI_REGEXP: SAFE_URL,
    ADD_URI_SAFE_ATTR: [],
    SAFE_FOR_TEMPLATES: false,
    WHOLE_DOCUMENT: false,
    RETURN_TRUSTED_TYPE: false,
    KEEP_CONTENT: true,
  };

  return function sanitize(html, renderNonce = '') {
    nonce = renderNonce;
    try {
      return purify.sanitize(html, config);
    } finally {
      nonce = '';
    }
  };
}
