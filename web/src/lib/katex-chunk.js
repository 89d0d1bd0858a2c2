// Loaded on demand by math.js: KaTeX and its stylesheet (whose fonts load only when used).
import katex from 'katex';
import 'katex/dist/katex.min.css';

export default katex;
