// Browser benchmark of Hearth's web app: Debian's chromium driven by playwright-core against a
// running server (bench/ui/run.sh starts one: auth none on loopback, the tiny qwen2 model with
// 4,096 tokens of context). Not a test: nothing passes or fails on a timing.
//
//   1. load:     load to interactive (fresh context, cold cache): navigation start -> the composer
//                is in the page, enabled, visible and takes focus; DOMContentLoaded, load event,
//                bytes on the wire (CDP Network.loadingFinished encodedDataLength, every request
//                until the network is quiet), main-thread long tasks; then a reload (HTTP cache).
//   2. ttft:     Enter in the composer (performance.now() in a capturing keydown listener) -> the
//                frame that paints the answer's first text (MutationObserver, then the end of that
//                frame's rendering step), against the API's own time to first token measured from
//                Node with the same request body, in ABBA order (the second request of a pair can
//                reuse the first one's prompt from the server's prefix cache). max_tokens 8 is set
//                through the app's own chat settings dialog, so no request is intercepted.
//   3. stream:   a 2,000-token answer in a new chat (the request body rewritten by page.route:
//                max_tokens 2000, ignore_eos true); long tasks (PerformanceObserver 'longtask',
//                installed before the app loads) from Enter to the end of the answer.
//   4. longconv: the same in a conversation of 1,000 messages (200,000 characters) made with
//                POST /v1/conversations and opened at #/c/<id>; the request body is also cut to
//                the last user message (the history is ~50,000 tokens, over the 4,096-token
//                context; the UI does all its work on the full history before the request leaves).
//   Then one profiled run of each stream (CDP Profiler, not counted) names the functions that use
//   the main thread, with an excerpt of the minified bundle at each.
//
// Environment: HEARTH_URL (required), UI_BENCH_MODEL (default hearth-tiny-qwen2), UI_BENCH_RUNS
// (10), UI_BENCH_OUT (results JSON; default bench/results/ui-<date>.json), UI_BENCH_ONLY
// (comma-separated subset of load,ttft,stream,longconv), UI_BENCH_MAX_LOAD (1.0) and
// UI_BENCH_IDLE_WAIT (600 s): wait until the 1-minute load average is below the first (polled every
// 10 s, at most the second) before measuring; UI_BENCH_PROFILE=0 skips the profiled runs.
// `node ui_bench.mjs --report results.json` prints the table of an earlier run again.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');

if (process.argv[2] === '--report') {
  console.log(table(JSON.parse(fs.readFileSync(process.argv[3], 'utf8'))));
  process.exit(0);
}

const { chromium } = await import('playwright-core');
const BASE = (process.env.HEARTH_URL || '').replace(/\/$/, '');
if (!BASE) throw new Error('HEARTH_URL is required (bench/ui/run.sh sets it)');
const MODEL = process.env.UI_BENCH_MODEL || 'hearth-tiny-qwen2';
const N = Number(process.env.UI_BENCH_RUNS || 10);
const ONLY = new Set((process.env.UI_BENCH_ONLY || 'load,ttft,stream,longconv').split(',').map((s) => s.trim()));
const MAX_LOAD = Number(process.env.UI_BENCH_MAX_LOAD ?? 1.0);
const IDLE_WAIT_S = Number(process.env.UI_BENCH_IDLE_WAIT ?? 600);
const PROFILE = process.env.UI_BENCH_PROFILE !== '0';
const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
const OUT = process.env.UI_BENCH_OUT || path.join(ROOT, 'bench', 'results', `ui-${stamp}.json`);
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--no-first-run'];
const CONTEXT = { locale: 'en-US', colorScheme: 'light', viewport: { width: 1280, height: 800 } };
const TTFT_MAX_TOKENS = 8;
const STREAM_TOKENS = 2000;
const LONG_MESSAGES = 1000;
const LONG_CHARS = 200_000;
const LONGTASK_MS = 50;
const WAIT = 300_000; // the longest single wait (a 2,000-token answer on a busy 2-core machine)

const log = (...a) => console.error('[ui-bench]', ...a);
const loadavg = () => fs.readFileSync('/proc/loadavg', 'utf8').trim().split(/\s+/).slice(0, 3).map(Number);
const SERVER_PID = Number(process.env.UI_BENCH_SERVER_PID || 0);
const SECTION_WAIT_S = Number(process.env.UI_BENCH_SECTION_WAIT ?? 180);
const MAX_FOREIGN = Number(process.env.UI_BENCH_MAX_FOREIGN ?? 0.1);

// CPU time used on the whole machine and by this benchmark (this process, the server and their
// descendants: chromium and its reaped children are counted through cutime/cstime), so that a
// run that shared the machine with someone else can be told apart ("foreign" CPU).
function cpuSample() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const busy = f[0] + f[1] + f[2] + f[5] + f[6]; // user nice system irq softirq (not idle, iowait, steal)
  const procs = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const rest = st.slice(st.lastIndexOf(')') + 2).split(' ');
      const comm = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
      procs.set(Number(d), { ppid: Number(rest[1]), comm, own: Number(rest[11]) + Number(rest[12]), t: Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14]) });
    } catch { /* gone */ }
  }
  const roots = new Set([process.pid, SERVER_PID].filter(Boolean));
  let ours = 0;
  let server = 0;
  const others = new Map(); // pid -> [comm, utime + stime]
  for (const [pid, p] of procs) {
    let root = 0;
    for (let q = pid, depth = 0; q && depth < 20; q = procs.get(q)?.ppid, depth++) {
      if (roots.has(q)) {
        root = q;
        break;
      }
    }
    if (root) ours += p.t;
    else others.set(pid, [p.comm, p.own]);
    if (root && root === SERVER_PID) server += p.t;
  }
  return { at: Date.now(), busy, ours, server, others };
}
function cpuSince(a) {
  const b = cpuSample();
  const hz = 100; // USER_HZ
  const wall = (b.at - a.at) / 1000;
  const busy = (b.busy - a.busy) / hz;
  const ours = (b.ours - a.ours) / hz;
  const foreign = Math.max(0, busy - ours);
  // The other processes that used the most CPU in between (those that ran to completion in
  // between are not seen).
  const top = [];
  for (const [pid, [comm, t]] of b.others) top.push([comm, (t - (a.others.get(pid)?.[1] ?? 0)) / hz]);
  const byName = new Map();
  for (const [comm, t] of top) byName.set(comm, (byName.get(comm) ?? 0) + t);
  const foreign_top = [...byName.entries()].filter(([, t]) => t > 0).sort((x, y) => y[1] - x[1]).slice(0, 4).map(([comm, t]) => `${comm} ${t.toFixed(1)} s`);
  const server = (b.server - a.server) / hz;
  return { wall_s: round(wall, 2), busy_cpu_s: round(busy, 2), ours_cpu_s: round(ours, 2), server_cpu_s: round(server, 2), browser_and_node_cpu_s: round(ours - server, 2), foreign_cpu_s: round(foreign, 2), foreign_share: round(foreign / (wall * os.cpus().length), 3), foreign_top };
}

// The machine is shared: wait until its 1-minute load average is below MAX_LOAD (this benchmark's
// own load counts too, so a section waits for the previous one's to decay).
async function waitIdle(maxWaitS, what) {
  const t0 = Date.now();
  let la = loadavg();
  while (la[0] >= MAX_LOAD && (Date.now() - t0) / 1000 < maxWaitS) {
    log(`${what}: load average ${la.join(' ')} >= ${MAX_LOAD}: waiting (${Math.round((Date.now() - t0) / 1000)} s of ${maxWaitS})`);
    await delay(10_000);
    la = loadavg();
  }
  const r = { max_load: MAX_LOAD, waited_s: Math.round((Date.now() - t0) / 1000), reached: la[0] < MAX_LOAD, loadavg: la };
  if (!r.reached) log(`${what}: load average still ${la.join(' ')}: measuring anyway (recorded)`);
  return r;
}

// ---- what runs in the page, before the app (page.addInitScript) ------------------------------

function pageProbe(LONGTASK_MS) {
  const B = (window.__bench = { enters: [], chatFetches: [], longtasks: [], loafs: [], interactive: null, interactivePaint: null, watch: null });
  const now = () => performance.now();
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) B.longtasks.push({ start: e.startTime, dur: e.duration, name: e.name });
    }).observe({ type: 'longtask', buffered: true });
  } catch {
    B.noLongtask = true;
  }
  // Long animation frames: which scripts ran in a frame over 50 ms (Chrome 123+).
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        B.loafs.push({
          start: e.startTime, dur: e.duration, blocking: e.blockingDuration, renderStart: e.renderStart,
          styleAndLayoutStart: e.styleAndLayoutStart,
          scripts: (e.scripts || []).map((s) => ({
            invoker: s.invoker, invokerType: s.invokerType, fn: s.sourceFunctionName, url: s.sourceURL,
            pos: s.sourceCharPosition, start: s.startTime, dur: s.duration, forcedLayout: s.forcedStyleAndLayoutDuration,
          })),
        });
      }
    }).observe({ type: 'long-animation-frame', buffered: true });
  } catch {
    B.noLoaf = true;
  }

  // "After the next paint": a mutation made inside a rendering step (a requestAnimationFrame
  // callback, as the app publishes streamed text) is painted at the end of that step, before any
  // other task runs; one made in an ordinary task is painted in the next frame. rAF is wrapped so
  // that the first callback of a frame posts a message, which runs right after that frame's
  // rendering (style, layout, paint); its time is the paint time of everything changed during the
  // frame (the main thread's paint; the compositor puts it on screen a little later).
  const rafOrig = window.requestAnimationFrame.bind(window);
  const mc = new MessageChannel();
  let inFrame = false;
  let waiters = [];
  mc.port1.onmessage = () => {
    inFrame = false;
    const t = now();
    const w = waiters;
    waiters = [];
    for (const f of w) f(t);
  };
  const frameStart = () => {
    if (!inFrame) {
      inFrame = true;
      mc.port2.postMessage(0);
    }
  };
  // The marker is registered just before the caller's callback (callbacks run in the order they
  // were registered), and the caller's own function is what the browser runs, so long animation
  // frame entries still name the app's code.
  window.requestAnimationFrame = function requestAnimationFrame(cb) {
    rafOrig(frameStart);
    return rafOrig(cb);
  };
  const afterPaint = (f) => {
    if (inFrame) waiters.push(f);
    else rafOrig(() => {
      frameStart();
      waiters.push(f);
    });
  };
  B.afterPaint = afterPaint;

  // The time fetch() is called for a chat request (the app calls fetch when the request leaves).
  const fetchOrig = window.fetch;
  window.fetch = function fetch(input, init) {
    const url = typeof input === 'string' ? input : input?.url ?? String(input);
    if (url.includes('/v1/chat/completions')) B.chatFetches.push(now());
    return fetchOrig.apply(this, arguments);
  };

  window.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && e.target?.dataset?.testid === 'composer') B.enters.push({ now: now(), ts: e.timeStamp });
  }, true);

  // Interactive: the composer is in the page, enabled, visible, outside anything inert, and takes focus.
  const ready = () => {
    const el = document.querySelector('[data-testid="composer"]');
    if (!el || el.disabled || el.readOnly || !el.getClientRects().length || el.closest('[inert],[hidden]')) return false;
    el.focus();
    return document.activeElement === el;
  };
  const mo = new MutationObserver(() => {
    if (B.interactive != null || !ready()) return;
    B.interactive = now();
    mo.disconnect();
    afterPaint((t) => (B.interactivePaint = t));
  });
  mo.observe(document, { childList: true, subtree: true, attributes: true });

  // Watches the next answer: the first frame that paints its text, the last text change, and the
  // frame that paints its footer (shown when the stream has ended).
  B.startWatch = () => {
    const pre = new Set([...document.querySelectorAll('.row[data-key]')].map((r) => r.dataset.key));
    let resolve;
    const w = { t0: now(), first: null, firstPaint: null, last: null, changes: 0, end: null, endPaint: null, chars: 0 };
    w.done = new Promise((r) => (resolve = r));
    B.watch = w;
    let art = null;
    const find = () => {
      const rows = document.querySelectorAll('.row[data-key]');
      for (let i = rows.length - 1; i >= 0; i--) {
        if (pre.has(rows[i].dataset.key)) continue;
        const a = rows[i].querySelector('article[data-role="assistant"]');
        if (a) return a;
      }
      return null;
    };
    const m = new MutationObserver((records) => {
      const t = now();
      if (!art || !art.isConnected) art = find();
      if (!art) return;
      const md = art.querySelector('.md');
      if (w.first == null) {
        if (!md || !md.textContent.length) return;
        w.first = t;
        w.last = t;
        w.changes = 1;
        afterPaint((p) => (w.firstPaint = p));
      } else if (w.end == null && records.some((r) => md && md.contains(r.target))) {
        w.last = t;
        w.changes++;
      }
      if (w.end == null && art.querySelector('footer')) {
        w.end = t;
        w.chars = md ? md.textContent.length : 0;
        // The shape of the answer (random weights write random Markdown): what the renderer had to lay out.
        if (md) w.shape = { elements: md.getElementsByTagName('*').length, paragraphs: md.querySelectorAll('p').length, code_blocks: md.querySelectorAll('pre').length, list_items: md.querySelectorAll('li').length, tables: md.querySelectorAll('table').length, math: md.querySelectorAll('.katex').length, links: md.querySelectorAll('a').length, headings: md.querySelectorAll('h1,h2,h3,h4,h5,h6').length };
        m.disconnect();
        afterPaint((p) => {
          w.endPaint = p;
          resolve();
        });
      }
    });
    m.observe(document.body, { childList: true, subtree: true, characterData: true });
    return true;
  };
}

// ---- statistics -------------------------------------------------------------------------------

function quantile(xs, q) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const pos = (v.length - 1) * q; // linear interpolation between the closest ranks (numpy's default)
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}
function summarize(runs, keys) {
  const out = {};
  for (const k of keys) {
    const xs = runs.map((r) => r[k]).filter((x) => typeof x === 'number' && Number.isFinite(x));
    out[k] = { median: quantile(xs, 0.5), p90: quantile(xs, 0.9), min: xs.length ? Math.min(...xs) : null, max: xs.length ? Math.max(...xs) : null, n: xs.length };
  }
  return out;
}
const round = (x, d = 1) => (x == null ? null : Math.round(x * 10 ** d) / 10 ** d);

// ---- the server -------------------------------------------------------------------------------

async function api(method, p, body) {
  const r = await fetch(BASE + p, { method, headers: { 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

// The API's own time to first token, from Node: request start -> the first content or reasoning delta.
async function apiStream(body) {
  const t0 = performance.now();
  const r = await fetch(BASE + '/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`chat: ${r.status} ${await r.text()}`);
  const headers = performance.now() - t0;
  const dec = new TextDecoder();
  let buf = '';
  let first = null;
  let firstByte = null;
  let last = null;
  let visible = null;
  let text = '';
  let usage = null;
  let done = false;
  for await (const chunk of r.body) {
    firstByte ??= performance.now() - t0;
    buf += dec.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (!line.startsWith('data:')) continue;
      const d = line.slice(5).trim();
      if (d === '[DONE]') {
        done = true;
        continue;
      }
      const j = JSON.parse(d);
      const delta = j.choices?.[0]?.delta;
      if (delta && (delta.content || delta.reasoning_content)) {
        last = performance.now() - t0;
        first ??= last;
      }
      text += (delta?.content ?? '') + (delta?.reasoning_content ?? '');
      if (visible == null && text.trim()) visible = performance.now() - t0;
      if (j.usage) usage = j.usage;
    }
  }
  const tokens = usage?.completion_tokens ?? null;
  const rate = tokens > 1 && last > first ? (tokens - 1) / ((last - first) / 1000) : null;
  return { ttft: first, visible, firstByte, last, headers, total: performance.now() - t0, usage, done, tokens_per_s: rate };
}

// A conversation of `n` messages, `chars` characters of text in all, Markdown of the usual kinds.
function longItems(n, chars) {
  const per = Math.floor(chars / n);
  const words = 'the a lighthouse keeper counts ships at night while storms pass over the harbour and gulls sleep on warm stones near old nets'.split(' ');
  const items = [];
  let w = 0;
  const text = (prefix) => {
    let s = prefix;
    while (s.length < per) s += (s.endsWith('\n') || !s ? '' : ' ') + words[w++ % words.length];
    return s.slice(0, per - 1) + '.';
  };
  for (let i = 0; i < n; i++) {
    const user = i % 2 === 0;
    let prefix = '';
    if (!user) {
      const k = (i >> 1) % 5;
      if (k === 0) prefix = 'Here is **the answer** with `inline code`:\n\n';
      else if (k === 1) prefix = '- first point\n- second *point*\n- third point\n\n';
      else if (k === 2) prefix = '```js\nconst x = [1, 2, 3].map((n) => n * 2);\n```\n\n';
      else if (k === 3) prefix = '## A heading\n\n1. one\n2. two\n\n';
      else prefix = '> a quoted line\n\n';
    }
    const t = text(prefix);
    items.push({ type: 'message', role: user ? 'user' : 'assistant', content: [{ type: user ? 'input_text' : 'output_text', text: t }] });
  }
  return items;
}

// ---- browser helpers --------------------------------------------------------------------------

let browser;

async function newPage({ route } = {}) {
  const context = await browser.newContext(CONTEXT);
  context.setDefaultTimeout(WAIT);
  await context.addInitScript(pageProbe, LONGTASK_MS);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  // Requests in flight (to wait for a quiet network) and what the app saved (the answer's usage).
  const net = { inflight: new Set(), lastChange: Date.now(), saved: [], chatBodies: [], itemPages: 0, log: [] };
  page.on('request', (r) => {
    net.inflight.add(r);
    net.lastChange = Date.now();
    const u = r.url();
    net.log.push(`${r.method()} ${new URL(u).pathname}`);
    if (u.includes('/v1/chat/completions')) net.chatBodies.push(r.postData());
    if (r.method() === 'POST' && /\/v1\/conversations\/[^/]+\/items$/.test(new URL(u).pathname)) {
      try {
        for (const it of JSON.parse(r.postData()).items || []) if (it.role === 'assistant') net.saved.push(it);
      } catch { /* not JSON */ }
    }
  });
  const gone = (r) => {
    net.inflight.delete(r);
    net.lastChange = Date.now();
    if (r.method() === 'GET' && /\/v1\/conversations\/[^/]+\/items/.test(r.url())) net.itemPages++;
  };
  page.on('requestfinished', gone);
  page.on('requestfailed', gone);
  if (route) await page.route('**/v1/chat/completions', route);
  return { context, page, errors, net };
}

async function quiet(net, ms = 400, timeout = 60_000) {
  const until = Date.now() + timeout;
  while (Date.now() < until) {
    if (net.inflight.size === 0 && Date.now() - net.lastChange >= ms) return;
    await delay(50);
  }
  throw new Error(`network not quiet after ${timeout} ms (${[...net.inflight].map((r) => r.url()).join(', ')})`);
}

async function waitInteractive(page) {
  const phase = await page.waitForFunction(() => {
    const B = window.__bench;
    if (B?.interactivePaint != null) return 'ready';
    if (document.querySelector('[data-testid="login-username"]')) return 'signin';
    return false;
  }, null, { polling: 100, timeout: 60_000 });
  if ((await phase.jsonValue()) === 'signin') throw new Error('the app asks for a sign-in: the server must run with auth mode none');
}

function longtaskStats(tasks, from, to) {
  const ts = tasks.filter((t) => t.start >= from && t.start <= to);
  return {
    longtasks: ts.filter((t) => t.dur > LONGTASK_MS).length,
    longest_task_ms: ts.length ? Math.max(...ts.map((t) => t.dur)) : 0,
    blocking_ms: ts.reduce((s, t) => s + Math.max(0, t.dur - LONGTASK_MS), 0),
    tasks: ts,
  };
}

async function sendPrompt(page, text, beforeEnter) {
  const box = page.locator('[data-testid="composer"]');
  await box.fill(text);
  await page.waitForTimeout(600); // the draft is saved 400 ms after the last keystroke
  await page.evaluate(() => window.__bench.startWatch());
  beforeEnter?.();
  await box.press('Enter');
}

async function answerDone(page) {
  let timer;
  await Promise.race([
    page.evaluate(() => window.__bench.watch.done),
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no complete answer within ${WAIT} ms`)), WAIT))),
  ]).finally(() => clearTimeout(timer));
  return page.evaluate(() => {
    const B = window.__bench;
    const { done, ...w } = B.watch;
    return { w, enter: B.enters[B.enters.length - 1]?.now ?? null, fetch: B.chatFetches[B.chatFetches.length - 1] ?? null };
  });
}

// ---- 1. load to interactive -------------------------------------------------------------------

async function measureLoad() {
  const runs = [];
  let breakdown = null;
  for (let i = 0; i < N; i++) {
    const { context, page, errors, net } = await newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    const reqs = new Map();
    cdp.on('Network.requestWillBeSent', (e) => reqs.set(e.requestId, { url: e.request.url, bytes: 0, done: false }));
    cdp.on('Network.loadingFinished', (e) => {
      const r = reqs.get(e.requestId);
      if (r) Object.assign(r, { bytes: e.encodedDataLength, done: true });
    });
    await page.goto(BASE + '/', { waitUntil: 'load' });
    await waitInteractive(page);
    await quiet(net, 500);
    const m = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const B = window.__bench;
      return { interactive: B.interactive, interactivePaint: B.interactivePaint, dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, responseEnd: nav.responseEnd, longtasks: B.longtasks, loafs: B.loafs };
    });
    const all = [...reqs.values()];
    const bytes = all.reduce((s, r) => s + r.bytes, 0);
    if (!breakdown) breakdown = all.map((r) => ({ path: new URL(r.url).pathname, bytes: r.bytes }));
    // The same page again from the HTTP cache.
    reqs.clear();
    await page.reload({ waitUntil: 'load' });
    await waitInteractive(page);
    await quiet(net, 500);
    const warm = await page.evaluate(() => window.__bench.interactivePaint);
    const warmBytes = [...reqs.values()].reduce((s, r) => s + r.bytes, 0);
    const lt = longtaskStats(m.longtasks, 0, m.interactivePaint);
    runs.push({
      interactive_ms: m.interactivePaint, interactive_dom_ms: m.interactive, dcl_ms: m.dcl, load_ms: m.load,
      html_response_end_ms: m.responseEnd, transferred_kb: bytes / 1024, requests: all.length,
      reload_interactive_ms: warm, reload_transferred_kb: warmBytes / 1024,
      longtasks: lt.longtasks, longest_task_ms: lt.longest_task_ms, errors,
      tasks: lt.tasks.map((t) => ({ start: round(t.start), dur: round(t.dur) })),
      loafs: m.loafs.filter((f) => f.start <= m.interactivePaint),
    });
    log(`load ${i + 1}/${N}: interactive ${m.interactivePaint.toFixed(1)} ms, DCL ${m.dcl.toFixed(1)}, load ${m.load.toFixed(1)}, ${(bytes / 1024).toFixed(1)} KB in ${all.length} requests; reload ${warm.toFixed(1)} ms`);
    await context.close();
  }
  return {
    runs, breakdown,
    summary: summarize(runs, ['interactive_ms', 'interactive_dom_ms', 'dcl_ms', 'load_ms', 'transferred_kb', 'requests', 'reload_interactive_ms', 'reload_transferred_kb', 'longtasks', 'longest_task_ms']),
  };
}

// ---- 2. UI overhead to the first token ----------------------------------------------------------

async function newChatWithSettings(page, maxTokens) {
  await page.locator('[data-testid="new-chat"]').click();
  await page.getByRole('button', { name: 'Chat settings' }).click();
  const dlg = page.locator('dialog[open]');
  await dlg.getByLabel('Max tokens').fill(String(maxTokens));
  // Greedy decoding: the UI's and the API's request then produce the same tokens, so "the first
  // token" is the same token on both sides (with random weights an answer can start with deltas
  // that are empty or only whitespace).
  await dlg.getByLabel(/^Temperature/).fill('0');
  await dlg.getByRole('button', { name: 'Save', exact: true }).click();
  await page.locator('dialog[open]').waitFor({ state: 'detached' });
}

// The chat request as the browser's network stack sees it (CDP, the response body streamed to
// this process): when the request left, when the headers and the first content delta arrived.
async function watchChatNetwork(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  const reqs = [];
  cdp.on('Network.requestWillBeSent', (e) => {
    if (!e.request.url.includes('/v1/chat/completions')) return;
    const r = { id: e.requestId, sent: e.timestamp, headers: null, firstContent: null };
    reqs.push(r);
    cdp.send('Network.streamResourceContent', { requestId: e.requestId }).then((x) => {
      const d = Buffer.from(x.bufferedData ?? '', 'base64').toString();
      if (r.firstContent == null && /"(?:content|reasoning_content)":"[^"]/.test(d)) r.firstContent = 'before streaming began'; // unknown when
    }).catch(() => { r.noStream = true; });
  });
  cdp.on('Network.responseReceived', (e) => {
    const r = reqs.find((x) => x.id === e.requestId);
    if (r) r.headers = e.timestamp;
  });
  cdp.on('Network.dataReceived', (e) => {
    const r = reqs.find((x) => x.id === e.requestId);
    if (!r || r.firstContent != null || !e.data) return;
    if (/"(?:content|reasoning_content)":"[^"]/.test(Buffer.from(e.data, 'base64').toString())) r.firstContent = e.timestamp;
  });
  return reqs;
}

async function uiTtftRun(page, net, prompt, chatNet) {
  await newChatWithSettings(page, TTFT_MAX_TOKENS);
  await quiet(net, 300);
  const nBodies = net.chatBodies.length;
  const nSaved = net.saved.length;
  const nLog = net.log.length;
  const nNet = chatNet?.length ?? 0;
  let cpu0;
  await sendPrompt(page, prompt, () => (cpu0 = cpuSample()));
  const { w, enter, fetch: tFetch } = await answerDone(page);
  const cpu = cpuSince(cpu0);
  await quiet(net, 400); // the answer is saved after the stream
  const cn = chatNet?.[nNet];
  const ms = (t) => (cn && typeof t === 'number' && !cn.noStream ? (t - cn.sent) * 1000 : null);
  const body = JSON.parse(net.chatBodies[nBodies]);
  const saved = net.saved[nSaved];
  const appTtft = saved?.hearth?.ttft_ms ?? null; // the app's own: request start -> first delta, as JS saw it
  return {
    body,
    ui_ttft_ms: w.firstPaint - enter,
    ui_text_in_dom_ms: w.first - enter,
    enter_to_fetch_ms: tFetch - enter,
    app_network_ttft_ms: appTtft,
    delta_to_paint_ms: appTtft == null ? null : w.firstPaint - (tFetch + appTtft),
    net_headers_ms: ms(cn?.headers),
    net_first_content_ms: ms(cn?.firstContent),
    cpu, // from just before Enter to the end of the answer (10 ms ticks)
    completion_tokens: saved?.hearth?.usage?.completion_tokens ?? null,
    requests: net.log.slice(nLog), // what the app sent from Enter to the saved answer
  };
}

async function measureTtft() {
  const { context, page, errors, net } = await newPage();
  const chatNet = await watchChatNetwork(page);
  await page.goto(BASE + '/');
  await waitInteractive(page);
  await quiet(net, 500);
  // A warm-up run (not counted): the app's request body, as it sends it, is the template for
  // the API's requests.
  const warm = await uiTtftRun(page, net, 'Warm-up: say hello.', chatNet);
  const template = warm.body;
  if (template.max_tokens !== TTFT_MAX_TOKENS) throw new Error(`the app sent max_tokens ${template.max_tokens}, not ${TTFT_MAX_TOKENS}`);
  await apiStream({ ...template, messages: [{ role: 'user', content: 'Warm-up: say hello.' }] });
  const runs = [];
  for (let i = 0; i < N; i++) {
    const prompt = `Run ${i + 1}: write two lines about a lighthouse keeper and the winter sea.`;
    const apiBody = { ...template, messages: [{ role: 'user', content: prompt }] };
    const uiFirst = i % 2 === 0; // ABBA...: UI first in even pairs, the API first in odd ones
    let ui;
    let apiR;
    if (uiFirst) {
      ui = await uiTtftRun(page, net, prompt, chatNet);
      await delay(300);
      apiR = await apiStream(apiBody);
    } else {
      apiR = await apiStream(apiBody);
      await delay(300);
      ui = await uiTtftRun(page, net, prompt, chatNet);
    }
    const same = JSON.stringify(ui.body) === JSON.stringify(apiBody);
    const { body, ...rest } = ui;
    const run = { order: uiFirst ? 'ui-first' : 'api-first', ...rest, api_ttft_ms: apiR.ttft, api_first_visible_ms: apiR.visible, api_headers_ms: apiR.headers, api_first_byte_ms: apiR.firstByte, overhead_ms: ui.ui_ttft_ms - apiR.ttft, same_body: same };
    runs.push(run);
    log(`ttft ${i + 1}/${N} (${run.order}): ui ${run.ui_ttft_ms.toFixed(1)} ms, api ${apiR.ttft.toFixed(1)} ms, overhead ${run.overhead_ms.toFixed(1)} ms (enter->fetch ${run.enter_to_fetch_ms.toFixed(1)}, first content at the network layer ${run.net_first_content_ms?.toFixed(1)}, in JS ${run.app_network_ttft_ms}, delta->paint ${run.delta_to_paint_ms?.toFixed(1)}; CPU browser ${run.cpu.browser_and_node_cpu_s} s, server ${run.cpu.server_cpu_s} s)${same ? '' : ' [bodies differ]'}`);
    await delay(300);
  }
  await context.close();
  const s = summarize(runs, ['ui_ttft_ms', 'api_ttft_ms', 'overhead_ms', 'enter_to_fetch_ms', 'app_network_ttft_ms', 'delta_to_paint_ms', 'net_headers_ms', 'net_first_content_ms', 'ui_text_in_dom_ms', 'api_headers_ms', 'api_first_byte_ms', 'api_first_visible_ms']);
  const byOrder = {};
  for (const o of ['ui-first', 'api-first']) byOrder[o] = summarize(runs.filter((r) => r.order === o), ['ui_ttft_ms', 'api_ttft_ms', 'overhead_ms']);
  return { max_tokens: TTFT_MAX_TOKENS, max_tokens_via: 'the app\'s chat settings dialog (Chat settings -> Max tokens 8, Temperature 0), no interception', request_template: template, runs, summary: s, by_order: byOrder, errors };
}

// ---- 3./4. long streams -----------------------------------------------------------------------

function streamRoute({ lastOnly }) {
  return async (route) => {
    const req = route.request();
    const body = JSON.parse(req.postData());
    body.max_tokens = STREAM_TOKENS;
    body.ignore_eos = true;
    if (lastOnly) body.messages = body.messages.slice(-1);
    await route.continue({ postData: JSON.stringify(body) });
  };
}

async function streamRun({ longConv, profile = false }) {
  let convId = null;
  if (longConv) {
    const conv = await api('POST', '/v1/conversations', { metadata: { title: 'UI bench: 1,000 messages', model: MODEL }, items: longItems(LONG_MESSAGES, LONG_CHARS) });
    convId = conv.id;
  }
  const { context, page, errors, net } = await newPage({ route: streamRoute({ lastOnly: longConv }) });
  await page.goto(BASE + '/' + (convId ? `#/c/${encodeURIComponent(convId)}` : ''));
  await waitInteractive(page);
  let open = null;
  if (longConv) {
    const pages = Math.ceil(LONG_MESSAGES / 100);
    const until = Date.now() + 120_000;
    while (net.itemPages < pages && Date.now() < until) await delay(50);
    await quiet(net, 500);
    const t = await page.evaluate(() => performance.now());
    const rows = await page.locator('.row[data-key]').count();
    open = { all_pages_ms: t, rows_in_dom: rows };
    await delay(1000);
  } else {
    await quiet(net, 500);
  }
  const la0 = loadavg();
  const cpu0 = cpuSample();
  let cdp = null;
  if (profile) {
    cdp = await context.newCDPSession(page);
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
    await cdp.send('Profiler.start');
  }
  const nSaved = net.saved.length;
  await sendPrompt(page, STREAM_PROMPT);
  const { w, enter } = await answerDone(page);
  const cpu = cpuSince(cpu0);
  let cpuProfile = null;
  if (cdp) cpuProfile = (await cdp.send('Profiler.stop')).profile;
  await quiet(net, 400);
  const B = await page.evaluate(() => ({ longtasks: window.__bench.longtasks, loafs: window.__bench.loafs }));
  const saved = net.saved[nSaved];
  const usage = saved?.hearth?.usage ?? {};
  const lt = longtaskStats(B.longtasks, enter, w.endPaint);
  const openLt = longConv ? longtaskStats(B.longtasks, 0, enter - 1000) : null;
  const tokens = usage.completion_tokens ?? null;
  const run = {
    longtasks: lt.longtasks, longest_task_ms: lt.longest_task_ms, blocking_ms: lt.blocking_ms,
    stream_total_s: (w.endPaint - enter) / 1000,
    first_paint_ms: w.firstPaint - enter,
    page_tokens_per_s: tokens && w.last > w.first ? (tokens - 1) / ((w.last - w.first) / 1000) : null,
    completion_tokens: tokens, chars: w.chars, text_updates: w.changes, shape: w.shape ?? null,
    tokens_per_update: tokens && w.changes ? tokens / w.changes : null,
    open_all_pages_ms: open?.all_pages_ms ?? null, open_rows_in_dom: open?.rows_in_dom ?? null,
    open_longtasks: openLt?.longtasks ?? null, open_longest_task_ms: openLt?.longest_task_ms ?? null,
    loadavg_before: la0, cpu, foreign_share: cpu.foreign_share,
    tasks: lt.tasks.filter((t) => t.dur > LONGTASK_MS).map((t) => ({ start: round(t.start - enter), dur: round(t.dur) })),
    loafs: B.loafs.filter((f) => f.start >= enter && f.start <= w.endPaint).map((f) => ({ ...f, start: round(f.start - enter) })),
    errors,
  };
  await context.close();
  if (convId) await api('DELETE', `/v1/conversations/${encodeURIComponent(convId)}`).catch(() => {});
  return { run, cpuProfile };
}

const STREAM_PROMPT = 'Tell me a very long story about a lighthouse keeper, in many chapters.';

// The same 2,000-token answer from Node, with no browser running: the server's own rate here.
async function apiReference() {
  const cpu0 = cpuSample();
  const r = await apiStream({ model: MODEL, messages: [{ role: 'user', content: STREAM_PROMPT }], stream: true, stream_options: { include_usage: true }, max_tokens: STREAM_TOKENS, ignore_eos: true });
  const cpu = cpuSince(cpu0);
  return { api_tokens_per_s: r.tokens_per_s, api_total_s: r.total / 1000, api_ttft_ms: r.ttft, completion_tokens: r.usage?.completion_tokens ?? null, cpu, foreign_share: cpu.foreign_share };
}

async function measureStream(longConv) {
  const runs = [];
  const refs = [];
  const name = longConv ? 'longconv' : 'stream';
  const ref = async (when) => {
    const r = { when, ...(await apiReference()) };
    refs.push(r);
    log(`${name}: API alone ${when} (others used ${(r.foreign_share * 100).toFixed(0)}% of the CPUs): ${r.completion_tokens} tokens in ${r.api_total_s.toFixed(1)} s, ${r.api_tokens_per_s?.toFixed(1)} tok/s`);
  };
  await ref('before');
  const discarded = [];
  for (let i = 0; i < N; i++) {
    const { run } = await streamRun({ longConv });
    if (run.foreign_share > MAX_FOREIGN && discarded.length < N) {
      // Someone else used the machine during this answer: measured again after a wait.
      discarded.push(run);
      log(`${name} ${i + 1}/${N}: others used ${(run.foreign_share * 100).toFixed(0)}% of the CPUs (${run.cpu.foreign_top.join(', ')}): discarded, again after a wait`);
      await waitIdle(SECTION_WAIT_S, name);
      i--;
      continue;
    }
    runs.push(run);
    log(`${name} ${i + 1}/${N} (others used ${(run.foreign_share * 100).toFixed(0)}% of the CPUs): ${run.completion_tokens} tokens in ${run.stream_total_s.toFixed(1)} s, ${run.page_tokens_per_s?.toFixed(1)} tok/s in the page, ` +
      `${run.longtasks} tasks > ${LONGTASK_MS} ms, longest ${run.longest_task_ms.toFixed(0)} ms, ${run.text_updates} text updates` +
      (longConv ? `; opened in ${run.open_all_pages_ms?.toFixed(0)} ms (${run.open_longtasks} long tasks, longest ${run.open_longest_task_ms?.toFixed(0)} ms)` : ''));
  }
  await ref('after');
  const keys = ['longtasks', 'longest_task_ms', 'blocking_ms', 'stream_total_s', 'first_paint_ms', 'page_tokens_per_s', 'completion_tokens', 'chars', 'text_updates', 'tokens_per_update', 'foreign_share'];
  if (longConv) keys.push('open_all_pages_ms', 'open_longtasks', 'open_longest_task_ms', 'open_rows_in_dom');
  return {
    max_tokens: STREAM_TOKENS, ignore_eos: true,
    request_rewrite: 'page.route on /v1/chat/completions: max_tokens 2000, ignore_eos true' + (longConv ? ', messages cut to the last (user) message' : ''),
    conversation: longConv ? { messages: LONG_MESSAGES, characters: LONG_CHARS } : null,
    runs, summary: summarize(runs, keys), tasks_over_50ms_all_runs: runs.reduce((s, r) => s + r.longtasks, 0),
    discarded: { note: `runs during which other processes used more than ${MAX_FOREIGN * 100}% of the CPUs (at most N, then kept anyway)`, runs: discarded.map(({ loafs, ...r }) => r) },
    api_reference: { note: 'the same request from Node with no browser running, before the first and after the last run', runs: refs, summary: summarize(refs, ['api_tokens_per_s', 'api_total_s']) },
  };
}

// ---- profiling (not counted) --------------------------------------------------------------------

const bundleCache = new Map();
async function excerpt(url, line, col) {
  if (!url || !url.startsWith(BASE)) return null;
  if (!bundleCache.has(url)) bundleCache.set(url, await fetch(url).then((r) => r.text()).catch(() => ''));
  const lines = bundleCache.get(url).split('\n');
  const l = lines[line] ?? '';
  return l.slice(Math.max(0, col - 60), col + 100);
}

async function profileTop(profile, n = 15) {
  // Self time per function, and inclusive time (the function or anything it called) for the
  // app's bundle, from the sampled stacks.
  const byId = new Map(profile.nodes.map((x) => [x.id, x]));
  const parent = new Map();
  for (const x of profile.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
  const keyOf = (f) => `${f.functionName}|${f.url}|${f.lineNumber}|${f.columnNumber}`;
  const self = new Map();
  const incl = new Map();
  const dt = profile.timeDeltas;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const ms = (dt[i + 1] ?? dt[i] ?? 0) / 1000;
    const node = byId.get(profile.samples[i]);
    const f = node.callFrame;
    if (['(idle)', '(program)', '(root)'].includes(f.functionName)) continue;
    total += ms;
    self.set(keyOf(f), (self.get(keyOf(f)) ?? 0) + ms);
    const seen = new Set();
    for (let id = node.id; id != null; id = parent.get(id)) {
      const cf = byId.get(id).callFrame;
      if (!cf.url.startsWith(BASE)) continue;
      const k = keyOf(cf);
      if (seen.has(k)) continue;
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + ms);
    }
  }
  const describe = async (entries) => {
    const out = [];
    for (const [key, ms] of entries) {
      const [fn, url, line, col] = key.split('|');
      out.push({ function: fn || '(anonymous)', url: url.replace(BASE, ''), line: Number(line) + 1, column: Number(col) + 1, ms: round(ms), share: round(ms / total, 3), excerpt: await excerpt(url, Number(line), Number(col)) });
    }
    return out;
  };
  return {
    busy_ms: round(total),
    self: await describe([...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, n)),
    inclusive_bundle: await describe([...incl.entries()].sort((a, b) => b[1] - a[1]).slice(0, n)),
  };
}

async function loafScripts(runs) {
  // The scripts the long animation frames name, summed over every run.
  const agg = new Map();
  for (const r of runs) {
    for (const f of r.loafs) {
      for (const s of f.scripts) {
        const key = `${s.invokerType}|${s.invoker}|${s.fn}|${s.url}|${s.pos}`;
        const a = agg.get(key) ?? { invoker_type: s.invokerType, invoker: s.invoker, function: s.fn, url: (s.url || '').replace(BASE, ''), char: s.pos, count: 0, total_ms: 0, forced_layout_ms: 0, max_ms: 0 };
        a.count++;
        a.total_ms += s.dur;
        a.forced_layout_ms += s.forcedLayout ?? 0;
        a.max_ms = Math.max(a.max_ms, s.dur);
        agg.set(key, a);
      }
    }
  }
  const top = [...agg.values()].sort((a, b) => b.total_ms - a.total_ms).slice(0, 10);
  for (const a of top) {
    a.total_ms = round(a.total_ms);
    a.forced_layout_ms = round(a.forced_layout_ms);
    a.max_ms = round(a.max_ms);
    if (a.url && a.char >= 0) {
      const url = BASE + a.url;
      if (!bundleCache.has(url)) bundleCache.set(url, await fetch(url).then((r) => r.text()).catch(() => ''));
      a.excerpt = bundleCache.get(url).slice(Math.max(0, a.char - 40), a.char + 120);
    }
  }
  return top;
}

// ---- the table --------------------------------------------------------------------------------

function table(R) {
  const f = (x, d = 1) => (x == null ? '–' : Number(x).toFixed(d));
  const rows = [];
  const row = (label, s, d = 1, unit = '') => s && rows.push(`| ${label} | ${f(s.median, d)}${unit} | ${f(s.p90, d)}${unit} | ${f(s.min, d)}–${f(s.max, d)}${unit} | ${s.n} |`);
  const L = R.load?.summary;
  if (L) {
    row('Load to interactive (composer enabled + focused, painted), ms', L.interactive_ms);
    row('DOMContentLoaded, ms', L.dcl_ms);
    row('load event, ms', L.load_ms);
    row('Transferred (all responses until the network is quiet), KB', L.transferred_kb);
    row('Requests', L.requests, 0);
    row('Long tasks > 50 ms before interactive', L.longtasks, 0);
    row('Reload (HTTP cache) to interactive, ms', L.reload_interactive_ms);
  }
  const T = R.ttft?.summary;
  if (T) {
    row(`UI: Enter -> first token painted (max_tokens ${R.ttft.max_tokens}), ms`, T.ui_ttft_ms);
    row('API: request -> first token (Node fetch, same body), ms', T.api_ttft_ms);
    row('UI overhead = UI - API (per pair), ms', T.overhead_ms);
    row('&nbsp;&nbsp;of which Enter -> fetch() called, ms', T.enter_to_fetch_ms);
    row('&nbsp;&nbsp;of which first delta in JS -> painted, ms', T.delta_to_paint_ms);
    row('&nbsp;&nbsp;request -> first delta in the page (the app\'s ttft_ms), ms', T.app_network_ttft_ms);
    row('&nbsp;&nbsp;request -> first content at the browser\'s network layer (CDP), ms', T.net_first_content_ms);
  }
  for (const [k, label] of [['stream', 'new chat'], ['longconv', '1,000-message chat']]) {
    const S = R[k]?.summary;
    if (!S) continue;
    if (k === 'longconv') {
      row('Open 1,000-message chat: navigation -> all 10 pages loaded, ms', S.open_all_pages_ms, 0);
      row('&nbsp;&nbsp;long tasks > 50 ms while opening', S.open_longtasks, 0);
      row('&nbsp;&nbsp;longest task while opening, ms', S.open_longest_task_ms, 0);
    }
    row(`2,000-token answer, ${label}: tasks > 50 ms`, S.longtasks, 0);
    row(`&nbsp;&nbsp;longest task, ms`, S.longest_task_ms);
    row(`&nbsp;&nbsp;total stream time (Enter -> end painted), s`, S.stream_total_s, 2);
    row(`&nbsp;&nbsp;tokens/s seen by the page`, S.page_tokens_per_s);
    row(`&nbsp;&nbsp;tokens/s, the same request from Node alone (before + after)`, R[k].api_reference?.summary?.api_tokens_per_s);
    row(`&nbsp;&nbsp;tokens per text update (frame)`, S.tokens_per_update, 2);
  }
  const m = R.machine;
  const head = [
    `UI benchmark ${R.date} — ${m.cpu_model}, ${m.cpus} CPUs; ${R.chromium}; playwright-core ${R.playwright_core}; model ${R.model}; N=${R.runs} per row`,
    `Load average (1/5/15 min): before ${R.loadavg.before.join(' ')}, ${Object.entries(R.loadavg).filter(([k]) => k !== 'before').map(([k, v]) => `${k} ${v.join(' ')}`).join(', ')}` +
      (R.idle_wait ? `; waited ${R.idle_wait.waited_s} s for < ${R.idle_wait.max_load}${R.idle_wait.reached ? '' : ' (not reached)'}` : ''),
    `CPU time used by other processes (share of all CPUs) during: ${['load', 'ttft', 'stream', 'longconv'].filter((k) => R[k]?.cpu).map((k) => `${k} ${(R[k].cpu.foreign_share * 100).toFixed(1)}%`).join(', ')}` +
      ['stream', 'longconv'].filter((k) => R[k]?.discarded?.runs?.length).map((k) => `; ${k}: ${R[k].discarded.runs.length} runs discarded and measured again (others over ${R[k].discarded.note.match(/than ([\d.]+)%/)?.[1]}%)`).join(''),
    '',
    '| Measurement | median | p90 | min–max | n |',
    '|---|---:|---:|---:|---:|',
  ];
  return head.concat(rows).join('\n');
}

// ---- main -------------------------------------------------------------------------------------

async function main() {
  const sh = (cmd, args) => { try { return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { return null; } };
  const cpuModel = (sh('lscpu', []) || '').split('\n').find((l) => l.startsWith('Model name:'))?.split(':')[1].trim() ?? os.cpus()[0]?.model;
  const R = {
    date: new Date().toISOString(),
    command: process.env.UI_BENCH_COMMAND || 'bench/ui/run.sh',
    base: BASE, model: MODEL, runs: N,
    machine: { cpu_model: cpuModel, cpus: os.cpus().length, mem_gib: round(os.totalmem() / 2 ** 30, 1), kernel: os.release() },
    hearth: { bin: process.env.UI_BENCH_BIN || null, version: process.env.UI_BENCH_BIN ? sh(process.env.UI_BENCH_BIN, ['--version']) : null, commit: sh('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']) },
    chromium: sh(CHROMIUM, ['--version']),
    playwright_core: JSON.parse(fs.readFileSync(path.join(HERE, 'node_modules', 'playwright-core', 'package.json'), 'utf8')).version,
    node: process.version,
    chromium_args: CHROMIUM_ARGS, viewport: CONTEXT.viewport,
    loadavg: { before: loadavg() },
  };

  // The model loads on its first request: load it before anything is timed.
  log('warming up the model');
  await apiStream({ model: MODEL, messages: [{ role: 'user', content: 'hello' }], max_tokens: 8, stream: true });

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  R.browser_version = browser.version();
  try {
    // The machine is shared: wait until the rest of it is quiet, and again (for less) before each
    // section; the load average and the CPU time others used are recorded with every section.
    R.idle_wait = await waitIdle(IDLE_WAIT_S, 'start');
    R.section_waits = {};
    const sections = [['load', measureLoad], ['ttft', measureTtft], ['stream', () => measureStream(false)], ['longconv', () => measureStream(true)]];
    let first = true;
    for (const [name, fn] of sections) {
      if (!ONLY.has(name)) continue;
      if (!first) R.section_waits[name] = await waitIdle(SECTION_WAIT_S, name);
      first = false;
      R.loadavg[name] = loadavg();
      const cpu0 = cpuSample();
      R[name] = await fn();
      R[name].cpu = cpuSince(cpu0);
      R[name].loadavg_after = loadavg();
    }
    R.loadavg.end = loadavg();
    for (const k of ['load', 'stream', 'longconv']) if (R[k]) R[k].loaf_scripts = await loafScripts(R[k].runs);
    if (PROFILE) {
      for (const k of ['stream', 'longconv']) {
        if (!R[k]) continue;
        log(`profiling one ${k} run (not counted)`);
        const { run, cpuProfile } = await streamRun({ longConv: k === 'longconv', profile: true });
        R[k].profile = { note: 'one extra run under the CDP sampling profiler (200 us), not counted above; self time from Enter to the end of the answer', longtasks: run.longtasks, longest_task_ms: run.longest_task_ms, ...(await profileTop(cpuProfile)) };
      }
    }
  } finally {
    await browser.close();
  }
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, JSON.stringify(R, null, 1) + '\n');
  console.log(table(R));
  console.log(`\nResults: ${OUT}`);
}

await main();
