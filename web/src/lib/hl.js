// highlight.js with only the languages the app ships (core + a handful).
import hljs from 'highlight.js/lib/core';
import javascript from 'highlight.js/lib/languages/javascript';
import typescript from 'highlight.js/lib/languages/typescript';
import python from 'highlight.js/lib/languages/python';
import bash from 'highlight.js/lib/languages/bash';
import shell from 'highlight.js/lib/languages/shell';
import json from 'highlight.js/lib/languages/json';
import c from 'highlight.js/lib/languages/c';
import cpp from 'highlight.js/lib/languages/cpp';
import sql from 'highlight.js/lib/languages/sql';
import go from 'highlight.js/lib/languages/go';
import java from 'highlight.js/lib/languages/java';
import rust from 'highlight.js/lib/languages/rust';
import yaml from 'highlight.js/lib/languages/yaml';
import xml from 'highlight.js/lib/languages/xml';
import markdown from 'highlight.js/lib/languages/markdown';
import diff from 'highlight.js/lib/languages/diff';

const langs = { javascript, typescript, python, bash, shell, json, c, cpp, sql, go, java, rust, yaml, xml, markdown, diff };
for (const [name, def] of Object.entries(langs)) hljs.registerLanguage(name, def);

const AUTO_SUBSET = ['javascript', 'typescript', 'python', 'bash', 'json', 'cpp', 'sql', 'go', 'java', 'rust', 'yaml', 'xml'];
const AUTO_MAX = 4000;

export function escapeHtml(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

// -> {html, lang}: highlighted HTML (spans with hljs-* classes only), and the language used.
export function highlightCode(text, lang, { auto = true } = {}) {
  const name = (lang || '').trim().split(/\s+/)[0].toLowerCase();
  try {
    if (name && hljs.getLanguage(name)) {
      const r = hljs.highlight(text, { language: name, ignoreIllegals: true });
      return { html: r.value, lang: name };
    }
    if (!name && auto && text.length <= AUTO_MAX) {
      const r = hljs.highlightAuto(text, AUTO_SUBSET);
      if (r.language && r.relevance >= 5) return { html: r.value, lang: r.language };
    }
  } catch {
    /* fall through to plain text */
  }
  return { html: escapeHtml(text), lang: name };
}
