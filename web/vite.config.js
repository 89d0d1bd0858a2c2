import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

const target = process.env.HEARTH_URL || 'http://127.0.0.1:8080';

// KaTeX's CSS offers each font as woff2, woff and ttf; every browser the app supports reads woff2,
// so the other two (0.9 MB) are left out of the build and of the hearth binary.
function katexWoff2Only() {
  return {
    name: 'katex-woff2-only',
    enforce: 'pre',
    transform(code, id) {
      if (!/katex(\.min)?\.css(\?.*)?$/.test(id)) return null;
      return code
        .replace(/,\s*url\([^)]*\.woff\)\s*format\(["']woff["']\)/g, '')
        .replace(/,\s*url\([^)]*\.ttf\)\s*format\(["']truetype["']\)/g, '');
    },
  };
}

export default defineConfig({
  base: '/',
  plugins: [katexWoff2Only(), svelte()],
  build: {
    target: 'es2022',
    outDir: 'dist',
    assetsDir: 'assets',
    sourcemap: false,
    // Never inline fonts (KaTeX's) into CSS: they must load only when math is shown.
    assetsInlineLimit: (file) => (/\.(woff2?|ttf|otf|eot)$/.test(file) ? false : undefined),
    cssCodeSplit: true,
    reportCompressedSize: false,
  },
  server: {
    proxy: {
      '/v1': { target, changeOrigin: false, ws: true },
      '/health': { target, changeOrigin: false },
    },
  },
  test: {
    include: ['src/**/*.test.js'],
    environment: 'node',
  },
});
