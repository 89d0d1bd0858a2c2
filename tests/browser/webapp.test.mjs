// End-to-end tests of Hearth's web app in a real browser: Debian's chromium driven by
// playwright-core, against the real binary (the app embedded, served at /) with the generated
// test models (real tokenizers, random weights: the answers are gibberish, so the tests look at
// what the app does with a stream, never at what the model says).
//
// One server for the file (auth mode "keys", users and an admin key made with the CLI), a fresh
// browser context per test. Every page's console errors, uncaught exceptions and requests are
// collected; each test ends by asserting that there were no console errors (other than the HTTP
// failures the test expects, which the browser itself logs as "Failed to load resource") and that
// every request went to the server under test.
//
// Environment: HEARTH_BIN (default build/hearth), HEARTH_MODELS (default models/),
// HEARTH_STATIC_EMBEDDINGS (the GloVe file for knowledge collections), HEARTH_BROWSER_ARTIFACTS
// (screenshots; default build/browser-artifacts). Run with tests/browser/run.sh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const BIN = path.resolve(process.env.HEARTH_BIN || path.join(ROOT, 'build', 'hearth'));
const MODELS = path.resolve(process.env.HEARTH_MODELS || path.join(ROOT, 'models'));
const ARTIFACTS = path.resolve(process.env.HEARTH_BROWSER_ARTIFACTS || path.join(ROOT, 'build', 'browser-artifacts'));
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--no-first-run'];

const QWEN = 'hearth-tiny-qwen2';
const LLAMA3 = 'hearth-tiny-llama3';
const R1 = 'hearth-tiny-deepseek-r1';

// People who sign in through the form (made with `hearth users create`; passwords 10+ bytes).
const USERS = {
  user: { name: 'ulla', password: 'ulla-password-1', role: 'user' },
  admin: { name: 'ada', password: 'ada-password-12', role: 'admin' },
  viewer: { name: 'vera', password: 'vera-password-1', role: 'viewer' },
  chinese: { name: '王小明', password: 'wang-password-1', role: 'user' },
};

const TEST_TIMEOUT = 150_000;
const WAIT = 90_000; // any single wait in the browser (the first request loads a model)

let tmp;
let server; // the child process
let serverExit; // resolves when it exits
let base; // http://127.0.0.1:<port>
let port;
let adminKey;
let browser;

// ---- the server -----------------------------------------------------------------------------

function writeConfig(dir) {
  const j = JSON.stringify;
  const model = (id, file, ctx) => `[[model]]\nid = ${j(id)}\nfile = ${j(file)}\ncontext_size = ${ctx}\nparallel = 2\n`;
  return [
    '[server]', 'host = "127.0.0.1"', 'port = 0', 'threads = 2', 'log_level = "info"', 'shutdown_grace_seconds = 5',
    '[models]', `dir = ${j(MODELS)}`, 'memory_budget_mb = 4096', 'load_wait_seconds = 120', `default = ${j(QWEN)}`,
    '[auth]', 'mode = "keys"', `db = ${j(path.join(dir, 'auth.sqlite'))}`, `secret_file = ${j(path.join(dir, 'auth.secret'))}`,
    '[audit]', `db = ${j(path.join(dir, 'audit.sqlite'))}`,
    '[knowledge]', `db = ${j(path.join(dir, 'knowledge.sqlite'))}`,
    '[ui]', `conversations_db = ${j(path.join(dir, 'conversations.sqlite'))}`,
    '',
    // qwen2 with a 4096-token context: an answer without max_tokens runs for a long time (stop).
    model(QWEN, 'hearth-tiny-qwen2.gguf', 4096),
    model(LLAMA3, 'hearth-tiny-llama3.gguf', 1024),
    model(R1, 'hearth-tiny-deepseek-r1.gguf', 1024),
  ].join('\n');
}

async function startServer() {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hearth-browser-'));
  const config = path.join(tmp, 'hearth.toml');
  fs.writeFileSync(config, writeConfig(tmp));
  for (const u of Object.values(USERS)) {
    execFileSync(BIN, ['users', 'create', '--config', config, '--name', u.name, '--role', u.role],
      { input: `${u.password}\n`, stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000 });
  }
  const out = execFileSync(BIN, ['keys', 'create', '--config', config, '--name', 'browser-tests', '--role', 'admin'],
    { encoding: 'utf8', timeout: 60_000 });
  adminKey = out.trim().split('\n').pop().trim();
  assert.match(adminKey, /^hk-/);

  const portFile = path.join(tmp, 'port');
  const log = fs.openSync(path.join(tmp, 'server.log'), 'w');
  server = spawn(BIN, ['serve', '--config', config, '--port-file', portFile], { stdio: ['ignore', log, log] });
  serverExit = new Promise((resolve) => server.once('exit', resolve));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`hearth exited with ${server.exitCode}:\n${serverLog()}`);
    const txt = fs.existsSync(portFile) ? fs.readFileSync(portFile, 'utf8').trim() : '';
    if (txt) {
      port = Number(txt);
      base = `http://127.0.0.1:${port}`;
      try {
        if ((await fetch(`${base}/health`)).status === 200) return;
      } catch {
        /* not listening yet */
      }
    }
    await delay(50);
  }
  throw new Error(`hearth did not start:\n${serverLog()}`);
}

function serverLog() {
  try {
    return fs.readFileSync(path.join(tmp, 'server.log'), 'utf8').slice(-4000);
  } catch {
    return '';
  }
}

async function stopServer() {
  if (server && server.exitCode === null && server.signalCode === null) {
    server.kill('SIGTERM');
    const timer = setTimeout(() => server.kill('SIGKILL'), 15_000);
    await serverExit;
    clearTimeout(timer);
  }
}

// A request to the server with the admin key (outside the browser).
async function adminApi(method, p, body) {
  const r = await fetch(`${base}${p}`, {
    method,
    headers: { Authorization: `Bearer ${adminKey}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON (metrics) */
  }
  return { status: r.status, text, json };
}

async function metric(name, model) {
  const { status, text } = await adminApi('GET', '/metrics');
  assert.equal(status, 200);
  const key = `${name}{model="${model}"}`;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${key} `)) return Number(line.slice(key.length + 1));
  }
  return 0;
}

// Polls fn() until it returns a truthy value (outside the browser: metrics, the API).
async function eventually(fn, what, timeout = 30_000) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await delay(100);
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}

before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await startServer();
  // qwen2 (the default model) is loaded before the tests, so that the streaming checks see the
  // model generate rather than load; llama3 and R1 load on their first request in the tests.
  const warm = await adminApi('POST', '/v1/chat/completions', { model: QWEN, messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 });
  assert.equal(warm.status, 200, warm.text);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

after(async () => {
  try {
    await browser?.close();
  } finally {
    await stopServer();
    if (tmp) {
      fs.copyFileSync(path.join(tmp, 'server.log'), path.join(ARTIFACTS, 'server.log'));
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
});

// Whatever happens, the server does not outlive the test process.
function killServer() {
  if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
}
process.on('exit', killServer);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    killServer();
    process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
  });
}

// ---- pages ----------------------------------------------------------------------------------

// The browser logs every non-2xx response as a console error ("Failed to load resource: the
// server responded with a status of 401"). These are the ones a test expects: the app starts
// signed out (GET /v1/auth/me -> 401) and, in one test, a wrong password (POST /v1/auth/login).
const SIGNED_OUT_START = { path: '/v1/auth/me', status: 401 };

function expectedHttpError(msg, allowed) {
  const m = /^Failed to load resource: the server responded with a status of (\d+)/.exec(msg.text);
  if (!m) return false;
  let p = '';
  try {
    p = new URL(msg.url).pathname;
  } catch {
    return false;
  }
  return allowed.some((a) => a.path === p && a.status === Number(m[1]));
}

// Runs fn({context, page, open, requests, ...}) in a fresh browser context, then checks every page
// it opened: no console errors, no uncaught exceptions, every request to the server under test.
function browserTest(name, fn, { contextOptions = {}, allowHttpErrors = [] } = {}) {
  test(name, { timeout: TEST_TIMEOUT }, async () => {
    const context = await browser.newContext({ locale: 'en-US', colorScheme: 'light', viewport: { width: 1280, height: 800 }, ...contextOptions });
    context.setDefaultTimeout(WAIT);
    const problems = []; // console errors and page errors
    const requests = []; // {url, method, postData}
    const allowed = [SIGNED_OUT_START, ...allowHttpErrors];
    const watch = (page) => {
      page.on('console', (msg) => {
        if (msg.type() !== 'error') return;
        const entry = { text: msg.text(), url: msg.location()?.url ?? '' };
        if (!expectedHttpError(entry, allowed)) problems.push(`console error: ${entry.text} (${entry.url})`);
      });
      page.on('pageerror', (err) => problems.push(`page error: ${err?.stack || err}`));
      page.on('request', (req) => requests.push({ url: req.url(), method: req.method(), postData: req.postData() }));
    };
    context.on('page', watch);
    const page = await context.newPage();
    let failed = true;
    try {
      await fn({ context, page, requests });
      failed = false;
    } finally {
      if (failed) {
        await page.screenshot({ path: path.join(ARTIFACTS, `FAILED-${slug(name)}.png`) }).catch(() => {});
      }
      await context.close().catch(() => {});
    }
    assert.deepEqual(problems, [], 'no console errors or uncaught exceptions');
    const origin = `http://127.0.0.1:${port}/`;
    const foreign = requests.map((r) => r.url).filter((u) => !u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:'));
    assert.deepEqual(foreign, [], `every request goes to ${origin}`);
  });
}

function slug(s) {
  return s.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').slice(0, 60);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) });
}

const tid = (id) => `[data-testid="${id}"]`;
const ASSISTANT = '[data-testid="message"][data-role="assistant"]';
const USER_MSG = '[data-testid="message"][data-role="user"]';

async function signIn(page, who) {
  await page.goto(`${base}/`);
  await page.fill(tid('login-username'), who.name);
  await page.fill(tid('login-password'), who.password);
  await page.click(tid('login-submit'));
  await page.waitForSelector(tid('composer'), { state: 'visible' });
  await waitModelsListed(page);
}

// The model picker lists the catalog (GET /v1/models answered).
async function waitModelsListed(page) {
  await page.waitForFunction((q) => document.querySelector(`[data-testid="model-picker"] option[value="${q}"]`), QWEN);
}

// Max tokens for this chat, through the chat settings dialog.
async function setMaxTokens(page, n) {
  await page.getByRole('button', { name: 'Chat settings' }).click();
  const dialog = page.getByRole('dialog', { name: 'Chat settings' });
  await dialog.getByLabel('Max tokens').fill(String(n));
  await dialog.getByRole('button', { name: 'Save' }).click();
  await dialog.waitFor({ state: 'hidden' });
}

async function assistantCount(page) {
  return page.locator(ASSISTANT).count();
}

// Waits until there are n assistant messages, none streaming (the stop button gone, the last
// answer's footer shown).
async function waitAnswered(page, n) {
  await page.waitForFunction(
    ({ n, sel }) => {
      const list = document.querySelectorAll(sel);
      return list.length === n && !document.querySelector('[data-testid="stop"]') &&
        !!list[n - 1].querySelector('footer') && !!document.querySelector('[data-testid="send"]');
    },
    { n, sel: ASSISTANT },
    { timeout: WAIT },
  );
}

// Sends text from the composer with Enter and waits for the whole answer.
async function ask(page, text) {
  const before = await assistantCount(page);
  await page.fill(tid('composer'), text);
  await page.press(tid('composer'), 'Enter');
  await waitAnswered(page, before + 1);
  return page.locator(ASSISTANT).nth(before);
}

function chatBodies(requests) {
  return requests.filter((r) => r.method === 'POST' && new URL(r.url).pathname === '/v1/chat/completions')
    .map((r) => JSON.parse(r.postData));
}

// Waits two frames in the page: whatever a key press started synchronously has run and rendered.
async function settle(page) {
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r()))));
}

// Records, on every DOM change, the last assistant message's text length and whether the stop
// button is shown (read back with growthLog).
async function recordGrowth(page) {
  await page.evaluate((sel) => {
    const log = (window.__growth = []);
    const t0 = performance.now();
    const sample = () => {
      const list = document.querySelectorAll(sel);
      const last = list[list.length - 1];
      if (!last) return;
      const len = (last.querySelector('.md')?.textContent ?? '').length;
      const stop = !!document.querySelector('[data-testid="stop"]');
      const prev = log[log.length - 1];
      if (!prev || prev.len !== len || prev.stop !== stop) log.push({ len, stop, ms: Math.round(performance.now() - t0) });
    };
    new MutationObserver(sample).observe(document.body, { subtree: true, childList: true, characterData: true });
  }, ASSISTANT);
}

// ---- tests ----------------------------------------------------------------------------------

browserTest('1. sign in through the form; a wrong password shows an error', async ({ page, requests }) => {
  await page.goto(`${base}/`);
  await page.waitForSelector(tid('login-username'), { state: 'visible' });
  await shot(page, 'sign-in');
  await page.fill(tid('login-username'), USERS.user.name);
  await page.fill(tid('login-password'), 'not-the-password');
  await page.click(tid('login-submit'));
  await page.getByRole('alert').filter({ hasText: 'Wrong name or password.' }).waitFor();
  assert.equal(await page.locator(tid('composer')).count(), 0, 'still signed out');
  const logins = requests.filter((r) => r.url.endsWith('/v1/auth/login'));
  assert.equal(logins.length, 1);

  await page.fill(tid('login-password'), USERS.user.password);
  await page.click(tid('login-submit'));
  await page.waitForSelector(tid('composer'), { state: 'visible' });
  await page.waitForSelector(tid('sign-out'), { state: 'visible' });
  assert.equal(await page.locator(tid('login-username')).count(), 0, 'the sign-in form is gone');
  await page.getByText(USERS.user.name, { exact: true }).waitFor(); // who is signed in, in the top bar
  assert.equal(await page.locator(tid('admin-link')).count(), 0, 'a user has no admin link');
}, { allowHttpErrors: [{ path: '/v1/auth/login', status: 401 }] });

browserTest('2. a message streams; the usage and speed line follows the answer', async ({ page, requests }) => {
  await signIn(page, USERS.user);
  await setMaxTokens(page, 40);
  await recordGrowth(page);
  await page.locator(tid('composer')).pressSequentially('Tell me a story about a lighthouse');
  await page.keyboard.press('Enter');
  const answer = page.locator(ASSISTANT).first();
  await answer.waitFor();
  await page.waitForSelector(tid('stop'), { state: 'visible' });
  await waitAnswered(page, 1);

  const growth = await page.evaluate(() => window.__growth);
  const whileStreaming = growth.filter((g) => g.stop && g.len > 0).map((g) => g.len);
  assert.ok(whileStreaming.length >= 2, `the answer grew while the stop button was shown: ${JSON.stringify(growth)}`);
  for (let i = 1; i < whileStreaming.length; i++) assert.ok(whileStreaming[i] > whileStreaming[i - 1], 'it only grows');

  assert.equal(await page.locator(USER_MSG).first().textContent().then((t) => t.includes('Tell me a story about a lighthouse')), true);
  const foot = answer.locator('footer');
  const stats = await foot.innerText();
  const m = /(\d+) → (\d+) tokens/.exec(stats);
  assert.ok(m, `usage shown: ${stats}`);
  assert.ok(Number(m[2]) >= 1 && Number(m[2]) <= 40, `max tokens 40 kept: ${stats}`);
  assert.match(stats, /[\d.]+ tokens\/s/, 'speed shown');
  assert.match(stats, new RegExp(QWEN));
  assert.ok((await answer.locator('.md').innerText()).trim().length > 0);
  const [body] = chatBodies(requests);
  assert.equal(body.max_tokens, 40);
  assert.equal(body.stream, true);
  await shot(page, 'chat-answer');
});

browserTest('3. stop ends the answer; the server cancels it and it is saved as incomplete', async ({ page }) => {
  const cancelledBefore = await metric('hearth_requests_cancelled_total', QWEN);
  await signIn(page, USERS.user);
  await page.fill(tid('composer'), 'Write a very long essay about rivers');
  await page.press(tid('composer'), 'Enter');
  // The first tokens are on screen.
  await page.waitForFunction((sel) => (document.querySelector(`${sel} .md`)?.textContent ?? '').length > 0, ASSISTANT);
  const saved = page.waitForResponse((r) => r.request().method() === 'POST' && /\/v1\/conversations\/[^/]+\/items$/.test(new URL(r.url()).pathname) &&
    (r.request().postData() ?? '').includes('"role":"assistant"'));
  await page.click(tid('stop'));
  await page.waitForSelector(tid('send'), { state: 'visible' });
  await waitAnswered(page, 1);
  const answer = page.locator(ASSISTANT).first();
  const textAtStop = await answer.locator('.md').innerText();
  assert.ok(textAtStop.length > 0);
  await answer.getByText('Incomplete', { exact: true }).waitFor();

  // The server saw the request go away and cancelled it.
  await eventually(async () => (await metric('hearth_requests_cancelled_total', QWEN)) > cancelledBefore, 'hearth_requests_cancelled_total to grow');
  assert.equal(await answer.locator('.md').innerText(), textAtStop, 'the text stopped growing');

  // Saved as incomplete: the item sent, and the conversation as it comes back after a reload.
  const resp = await saved;
  assert.equal(resp.status(), 200);
  const item = JSON.parse(resp.request().postData()).items[0];
  assert.equal(item.status, 'incomplete');
  assert.equal(item.hearth.finish_reason, 'cancelled');
  assert.match(page.url(), /#\/c\/conv_/);
  await page.reload();
  const reloaded = page.locator(ASSISTANT).first();
  await reloaded.getByText('Incomplete', { exact: true }).waitFor();
  assert.equal(await reloaded.locator('.md').innerText(), textAtStop);
});

browserTest('4. the R1 model thinks: a thinking block with its duration', async ({ page, requests }) => {
  await signIn(page, USERS.user);
  await page.selectOption(tid('model-picker'), R1);
  await setMaxTokens(page, 30);
  await page.fill(tid('composer'), 'How many prime numbers are below 20?');
  await page.press(tid('composer'), 'Enter');
  const thinking = page.locator(`${ASSISTANT} ${tid('thinking')}`);
  await thinking.waitFor();
  await waitAnswered(page, 1);
  const duration = await thinking.locator(tid('thinking-duration')).innerText();
  assert.match(duration, /^\d+(\.\d+)? s$/, `duration shown: ${duration}`);
  assert.match(await thinking.locator('summary').innerText(), /Thought/);
  // Open it: the reasoning text is there.
  await thinking.locator('summary').click();
  await page.waitForFunction((sel) => document.querySelector(sel)?.open === true, `${ASSISTANT} ${tid('thinking')}`);
  assert.ok((await thinking.innerText()).replace(/Thought|[\d.]+ s/g, '').trim().length > 0, 'the reasoning text');
  const [body] = chatBodies(requests);
  assert.equal(body.model, R1);
  assert.match(await page.locator(ASSISTANT).first().locator('footer').innerText(), new RegExp(R1));
  await shot(page, 'thinking');
});

browserTest('5. the chat request follows the model picker', async ({ page, requests }) => {
  await signIn(page, USERS.user);
  await setMaxTokens(page, 8);
  await page.selectOption(tid('model-picker'), LLAMA3);
  const first = await ask(page, 'First question for llama');
  await page.selectOption(tid('model-picker'), QWEN);
  const second = await ask(page, 'Second question for qwen');
  const bodies = chatBodies(requests);
  assert.deepEqual(bodies.map((b) => b.model), [LLAMA3, QWEN]);
  // The answers came from those models (the stream names its model).
  assert.match(await first.locator('footer').innerText(), new RegExp(LLAMA3));
  assert.match(await second.locator('footer').innerText(), new RegExp(QWEN));
  assert.equal(await page.locator(tid('model-picker')).inputValue(), QWEN);
});

browserTest('6. knowledge: upload, index, answer with a citation, open the cited source', async ({ page, requests }) => {
  const created = await adminApi('POST', '/v1/knowledge/collections', { name: 'plant-manuals' });
  assert.equal(created.status, 201, created.text);
  await signIn(page, USERS.user);

  // Upload a markdown document through the Documents panel.
  await page.getByRole('button', { name: 'Documents' }).click();
  const paragraph = 'When the zanzibar gauge reads above three bar, open the quartermaster relief valve slowly and call the duty engineer.';
  const doc = `# Boiler handbook\n\nGeneral notes about the plant room.\n\n## Pressure relief\n\n${paragraph}\n`;
  await page.setInputFiles(tid('upload-input'), { name: 'boiler-handbook.md', mimeType: 'text/markdown', buffer: Buffer.from(doc) });
  await page.getByText('Indexed', { exact: true }).waitFor();
  const coll = await adminApi('GET', '/v1/knowledge/collections/plant-manuals');
  assert.equal(coll.json.documents, 1, coll.text);
  assert.ok(coll.json.chunks >= 1, coll.text);
  const upload = requests.find((r) => r.method === 'POST' && r.url.endsWith('/v1/knowledge/collections/plant-manuals/documents'));
  assert.ok(upload, 'uploaded to the collection');

  // Answer from the collection; a grammar makes the model cite [1].
  await page.locator('summary[aria-label="Knowledge collections for this chat"]').click();
  await page.getByRole('checkbox', { name: 'plant-manuals' }).check();
  const seen = [];
  await page.route('**/v1/chat/completions', async (route) => {
    const body = JSON.parse(route.request().postData());
    seen.push(body);
    body.response_format = { type: 'json_schema', json_schema: { name: 'say', schema: { const: 'See [1].' } } };
    await route.continue({ postData: JSON.stringify(body) });
  });
  const question = 'What do I do when the zanzibar gauge is high?';
  await ask(page, question);
  assert.deepEqual(seen[0].knowledge, { collections: ['plant-manuals'] });
  const cite = page.locator(`${ASSISTANT} ${tid('citation')}`);
  await cite.waitFor();
  assert.equal(await cite.innerText(), '[1]');
  await cite.click();

  const panel = page.locator(tid('citation-panel'));
  await panel.waitFor();
  const text = await panel.innerText();
  assert.match(text, /boiler-handbook\.md/, 'the document');
  assert.match(text, /Boiler handbook > Pressure relief/, 'the heading path');
  assert.match(text, /plant-manuals/, 'the collection');
  const mark = panel.locator('mark');
  assert.equal(await mark.count(), 1);
  assert.equal((await mark.innerText()).trim(), paragraph, 'the cited text, highlighted');
  // The question's words are picked out inside it.
  const strong = await mark.locator('strong').allInnerTexts();
  assert.ok(strong.map((s) => s.toLowerCase()).includes('zanzibar'), `query words highlighted: ${strong}`);
  await shot(page, 'citation-panel');
});

browserTest('7. a conversation survives a reload and is found by search', async ({ page }) => {
  await signIn(page, USERS.user);
  await setMaxTokens(page, 12);
  const word = 'marzipanlighthouse';
  const savedAnswer = page.waitForResponse((r) => r.request().method() === 'POST' && /\/items$/.test(new URL(r.url()).pathname) &&
    (r.request().postData() ?? '').includes('"role":"assistant"'));
  const answer = await ask(page, `Where is the ${word} of Hearth?`);
  const answerText = await answer.locator('.md').innerText();
  assert.equal((await savedAnswer).status(), 200);
  assert.match(page.url(), /#\/c\/conv_/);

  await page.reload();
  await page.waitForSelector(tid('composer'), { state: 'visible' });
  const items = page.locator(tid('history-item'));
  await items.filter({ hasText: word }).first().waitFor();

  // A new chat, then find the conversation by a word of the message.
  await page.click(tid('new-chat'));
  await page.waitForFunction(() => !document.querySelector('[data-testid="message"]'));
  await page.fill(tid('history-search'), word);
  await page.waitForFunction(({ sel, word }) => {
    const list = [...document.querySelectorAll(sel)];
    return list.length === 1 && list[0].textContent.includes(word);
  }, { sel: tid('history-item'), word });
  await shot(page, 'history-search');
  await items.first().locator('a').click();
  await page.locator(USER_MSG).filter({ hasText: `Where is the ${word} of Hearth?` }).waitFor();
  await page.locator(ASSISTANT).first().waitFor();
  assert.equal(await page.locator(ASSISTANT).first().locator('.md').innerText(), answerText);
  assert.equal(await page.locator('[data-testid="message"]').count(), 2);
});

browserTest('8. Chinese IME: Enter that confirms a candidate never sends or submits', async ({ page, context, requests }) => {
  // Every fetch the app makes, recorded in the page as it is made; and when an IME took an Enter.
  await page.addInitScript(() => {
    window.__imeEnterAt = -1;
    window.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && e.isComposing) window.__imeEnterAt = performance.now();
    }, true);
    const calls = (window.__fetches = []);
    const orig = window.fetch;
    window.fetch = function (input, init) {
      calls.push(String(input instanceof Request ? input.url : input));
      return orig.call(this, input, init);
    };
  });
  const fetched = (p) => page.evaluate((p) => window.__fetches.filter((u) => new URL(u, location.href).pathname === p).length, p);
  await page.goto(`${base}/`);
  await page.waitForSelector(tid('login-username'), { state: 'visible' });
  const cdp = await context.newCDPSession(page);

  // Sign-in form: compose the (Chinese) user name, Enter while composing does not submit.
  await page.fill(tid('login-password'), USERS.chinese.password);
  await page.focus(tid('login-username'));
  await cdp.send('Input.imeSetComposition', { text: USERS.chinese.name, selectionStart: 3, selectionEnd: 3 });
  await page.keyboard.press('Enter');
  await settle(page);
  assert.equal(await fetched('/v1/auth/login'), 0, 'no sign-in while composing');
  assert.equal(await page.locator(tid('composer')).count(), 0);
  await cdp.send('Input.insertText', { text: USERS.chinese.name });
  assert.equal(await page.inputValue(tid('login-username')), USERS.chinese.name);
  // The app also cancels a submit that comes within 100 ms of an Enter the IME took (Safari
  // sends compositionend before that keydown; src/lib/ime.js): a person's next Enter is later.
  await page.waitForFunction(() => window.__imeEnterAt >= 0 && performance.now() - window.__imeEnterAt > 150);
  await page.keyboard.press('Enter');
  await page.waitForSelector(tid('composer'), { state: 'visible' });
  assert.equal(await fetched('/v1/auth/login'), 1, 'committed, Enter signs in');
  await waitModelsListed(page);
  await setMaxTokens(page, 8);

  // Composer: Enter while composing does not send.
  await page.focus(tid('composer'));
  await cdp.send('Input.imeSetComposition', { text: '你好', selectionStart: 2, selectionEnd: 2 });
  await page.keyboard.press('Enter');
  await settle(page);
  assert.equal(await fetched('/v1/chat/completions'), 0, 'no chat request while composing');
  assert.equal(await page.locator('[data-testid="message"]').count(), 0, 'no message');
  assert.equal(await page.locator(tid('stop')).count(), 0);
  assert.equal(chatBodies(requests).length, 0);
  // Committed, Enter sends.
  await cdp.send('Input.insertText', { text: '你好' });
  assert.match(await page.inputValue(tid('composer')), /^你好\s*$/);
  await page.keyboard.press('Enter');
  await page.locator(USER_MSG).first().waitFor();
  await waitAnswered(page, 1);
  assert.equal(await fetched('/v1/chat/completions'), 1);
  const bodies = chatBodies(requests);
  assert.equal(bodies.length, 1);
  const userMsgs = bodies[0].messages.filter((m) => m.role === 'user');
  assert.equal(userMsgs.length, 1);
  assert.equal(userMsgs[0].content.trim(), '你好');
  assert.equal((await page.locator(USER_MSG).first().innerText()).includes('你好'), true);
});

browserTest('9. admin: create an API key in the admin area; it works with curl', async ({ page }) => {
  await signIn(page, USERS.admin);
  await page.click(tid('admin-link'));
  await page.getByRole('link', { name: 'API keys' }).click();
  await page.waitForSelector(tid('keys-create-name'), { state: 'visible' });
  assert.match(page.url(), /#\/admin\/keys$/);
  await page.fill(tid('keys-create-name'), 'made-in-browser');
  await page.click(tid('keys-create-submit'));
  const secretEl = page.locator(tid('key-secret'));
  await secretEl.waitFor();
  const secret = (await secretEl.innerText()).trim();
  assert.match(secret, /^hk-[A-Za-z0-9]+\.[A-Za-z0-9_-]+$/);
  await page.getByRole('button', { name: 'I have copied it' }).click();
  await secretEl.waitFor({ state: 'detached' });
  await page.getByRole('cell', { name: 'made-in-browser', exact: true }).waitFor();
  assert.equal(await page.getByText(secret).count(), 0, 'the key is shown once');
  await shot(page, 'admin-keys');

  const out = execFileSync('curl', ['-s', '-w', '\n%{http_code}', '-H', `Authorization: Bearer ${secret}`, `${base}/v1/models`],
    { encoding: 'utf8', timeout: 30_000 });
  const nl = out.lastIndexOf('\n');
  assert.equal(out.slice(nl + 1), '200', out);
  const list = JSON.parse(out.slice(0, nl));
  assert.equal(list.object, 'list');
  assert.deepEqual(list.data.map((m) => m.id).sort(), [LLAMA3, R1, QWEN].sort());
  // And the key is listed by the API as the browser made it (role user, by default).
  const keys = await adminApi('GET', '/v1/admin/keys');
  const made = keys.json.data.find((k) => k.name === 'made-in-browser');
  assert.equal(made?.role, 'user');
  assert.ok(secret.startsWith(`${made.id}.`));
});

browserTest('10. a viewer has no admin link, and the admin route says not allowed', async ({ page, requests }) => {
  await signIn(page, USERS.viewer);
  await page.waitForSelector(tid('sign-out'), { state: 'visible' });
  await page.getByRole('link', { name: 'Chat' }).waitFor();
  assert.equal(await page.locator(tid('admin-link')).count(), 0, 'no admin link');
  for (const hash of ['#/admin', '#/admin/keys', '#/admin/users']) {
    await page.goto(`${base}/${hash}`);
    await page.getByRole('alert').filter({ hasText: 'You are not allowed to see this page.' }).waitFor();
    assert.equal(await page.locator(tid('keys-create-name')).count(), 0);
    assert.equal(await page.locator(tid('admin-link')).count(), 0);
  }
  // A reload on the admin route too (the app starts there).
  await page.reload();
  await page.getByRole('alert').filter({ hasText: 'You are not allowed to see this page.' }).waitFor();
  await shot(page, 'viewer-not-allowed');
  const admin = requests.filter((r) => new URL(r.url).pathname.startsWith('/v1/admin/'));
  assert.deepEqual(admin.map((r) => r.url), [], 'no admin data requested');
});

browserTest('11. phone size (375x667) and dark theme: the composer and send work', async ({ page }) => {
  await signIn(page, USERS.user);
  const composer = page.locator(tid('composer'));
  const send = page.locator(tid('send'));
  const inViewport = async (loc) => {
    const b = await loc.boundingBox();
    return b && b.x >= 0 && b.y >= 0 && b.x + b.width <= 375 && b.y + b.height <= 667;
  };
  assert.ok(await inViewport(composer), 'composer inside the screen');
  assert.ok(await inViewport(send), 'send inside the screen');
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 375), 'no sideways scrolling');
  await shot(page, 'phone-375x667');

  // Dark theme: system (light here) -> light -> dark.
  const toggle = page.locator(tid('theme-toggle'));
  for (let i = 0; i < 3 && (await page.evaluate(() => document.documentElement.dataset.theme)) !== 'dark'; i++) await toggle.click();
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const [r, g, b] = bg.match(/\d+/g).map(Number);
  assert.ok(0.2126 * r + 0.7152 * g + 0.0722 * b < 80, `a dark background: ${bg}`);

  await setMaxTokens(page, 12);
  await composer.click();
  await composer.fill('Hello from a phone');
  await send.click();
  await page.locator(USER_MSG).filter({ hasText: 'Hello from a phone' }).waitFor();
  await waitAnswered(page, 1);
  assert.ok(await inViewport(composer), 'composer still inside the screen');
  assert.ok(await inViewport(page.locator(tid('send'))));
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 375), 'no sideways scrolling');
  await shot(page, 'phone-375x667-dark');
  // The theme is remembered.
  await page.reload();
  await page.waitForSelector(tid('composer'), { state: 'visible' });
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
}, { contextOptions: { viewport: { width: 375, height: 667 }, isMobile: true, hasTouch: true } });

// The server calls a loaded model "loaded" (src/models/registry.cpp, ModelRegistry::status(); the
// integration tests pin it); the app must read it as ready (web/src/lib/models.js, modelState): a
// readable picker label, and no /health polling for a request to it.
browserTest('12. a loaded model counts as ready: a readable picker label, no load polling', async ({ page, requests }) => {
  await signIn(page, USERS.user);
  await setMaxTokens(page, 4);
  await ask(page, 'Hello again'); // qwen2 is loaded (before() and the tests before)
  // A fresh start: the catalog says the model is loaded.
  await page.reload();
  await waitModelsListed(page);
  const models = await adminApi('GET', '/v1/models');
  assert.equal(models.json.data.find((m) => m.id === QWEN).state, 'loaded', 'the server calls it loaded (docs/API.md, tests/integration)');
  const label = (await page.locator(`${tid('model-picker')} option[value="${QWEN}"]`).innerText()).trim();
  assert.doesNotMatch(label, /model\.state\./, `the label is words, not a dictionary key: ${label}`);
  assert.doesNotMatch(label, /not loaded|loading/, label);
  // A request to a ready model does not wait for it: no /health polling.
  await page.click(tid('new-chat'));
  await setMaxTokens(page, 4);
  const before = requests.length;
  await ask(page, 'And once more');
  const health = requests.slice(before).filter((r) => new URL(r.url).pathname === '/health');
  assert.equal(health.length, 0, 'no /health polling for a loaded model');
});
