// Gzips every file in dist/ except fonts (KaTeX's load only when math is shown) and fails when
// the total is over the budget. Usage: node scripts/size.mjs [--budget KB]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../dist/', import.meta.url));
const arg = process.argv.indexOf('--budget');
const budgetKB = arg > 0 ? Number(process.argv[arg + 1]) : 500;
const FONT = /\.(woff2?|ttf|otf|eot)$/i;

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

let files;
try {
  files = walk(root);
} catch {
  console.error('dist/ not found: run `npm run build` first');
  process.exit(2);
}

let total = 0;
let raw = 0;
let fonts = 0;
const rows = [];
for (const f of files) {
  const buf = readFileSync(f);
  if (FONT.test(f)) {
    fonts += buf.length;
    continue;
  }
  const gz = gzipSync(buf, { level: 9 }).length;
  total += gz;
  raw += buf.length;
  rows.push([relative(root, f), buf.length, gz]);
}
rows.sort((a, b) => b[2] - a[2]);
const kb = (n) => (n / 1024).toFixed(1).padStart(8);
for (const [name, r, g] of rows) console.log(`${kb(r)} KB raw ${kb(g)} KB gzip  ${name}`);
console.log(`fonts (excluded): ${(fonts / 1024).toFixed(1)} KB raw`);
console.log(`total: ${(raw / 1024).toFixed(1)} KB raw, ${(total / 1024).toFixed(1)} KB gzip (budget ${budgetKB} KB)`);
if (total > budgetKB * 1024) {
  console.error(`over budget by ${((total - budgetKB * 1024) / 1024).toFixed(1)} KB`);
  process.exit(1);
}
