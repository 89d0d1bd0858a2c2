// The official OpenAI Node SDK against a real Hearth server with the generated test models.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const BIN = resolve(process.env.HEARTH_BIN ?? join(root, 'build', 'hearth'));
const MODELS = resolve(process.env.HEARTH_MODELS ?? join(root, 'models'));
const slow = process.env.HEARTH_SANITIZED ? 4 : 1;

let server, client, dir, keys, port;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-e2e-'));
  const config = `
[server]
host = "127.0.0.1"
port = 0
port_file = "${join(dir, 'port')}"
[auth]
mode = "keys"
db = "${join(dir, 'auth.sqlite')}"
secret_file = "${join(dir, 'auth.secret')}"
[knowledge]
db = "${join(dir, 'knowledge.sqlite')}"
[models]
dir = "${MODELS}"
default = "hearth-tiny-qwen2"
[[model]]
id = "hearth-tiny-qwen2"
file = "hearth-tiny-qwen2.gguf"
context_size = 2048
parallel = 4
[[model]]
id = "hearth-tiny-deepseek-r1"
file = "hearth-tiny-deepseek-r1.gguf"
context_size = 2048
parallel = 2
[[model]]
id = "hearth-tiny-bert-embed"
file = "hearth-tiny-bert-embed.gguf"
context_size = 512
`;
  writeFileSync(join(dir, 'hearth.toml'), config);
  // API keys as an administrator makes them: the key is the last line `hearth keys create` prints.
  const makeKey = (role) => execFileSync(BIN, ['keys', 'create', '--config', join(dir, 'hearth.toml'), '--name', `e2e-${role}`,
    '--role', role], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').pop();
  keys = { user: makeKey('user'), admin: makeKey('admin'), viewer: makeKey('viewer') };
  server = spawn(BIN, ['serve', '--config', join(dir, 'hearth.toml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  server.stderr.on('data', (d) => { log += d; });
  for (let i = 0; i < 600 * slow; i++) {
    if (existsSync(join(dir, 'port')) && readFileSync(join(dir, 'port'), 'utf8').trim()) break;
    if (server.exitCode !== null) throw new Error(`hearth exited: ${log}`);
    await sleep(50);
  }
  port = readFileSync(join(dir, 'port'), 'utf8').trim();
  client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: keys.user, maxRetries: 0, timeout: 120000 * slow });
});

after(async () => {
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
  rmSync(dir, { recursive: true, force: true });
});

test('models.list returns the catalog', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids.sort(), ['hearth-tiny-bert-embed', 'hearth-tiny-deepseek-r1', 'hearth-tiny-qwen2']);
});

test('chat completion, then the same as a stream, give the same text', async () => {
  const params = {
    model: 'hearth-tiny-qwen2',
    messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Say hello in Chinese: 你好' }],
    max_tokens: 24,
    temperature: 0,
  };
  const full = await client.chat.completions.create(params);
  assert.equal(full.object, 'chat.completion');
  assert.equal(full.choices[0].message.role, 'assistant');
  assert.equal(typeof full.choices[0].message.content, 'string');
  assert.ok(['stop', 'length'].includes(full.choices[0].finish_reason));
  assert.equal(full.usage.total_tokens, full.usage.prompt_tokens + full.usage.completion_tokens);
  assert.ok(full.usage.completion_tokens > 0 && full.usage.completion_tokens <= 24);

  const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) continue;
    text += choice.delta?.content ?? '';
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  assert.equal(text, full.choices[0].message.content);
  assert.equal(finish, full.choices[0].finish_reason);
  assert.equal(usage.completion_tokens, full.usage.completion_tokens);
  assert.equal(usage.prompt_tokens, full.usage.prompt_tokens);
});

test('reasoning model streams reasoning_content separately from content', async () => {
  const params = { model: 'hearth-tiny-deepseek-r1', messages: [{ role: 'user', content: 'Why is the sky blue?' }], max_tokens: 16, temperature: 0 };
  const full = await client.chat.completions.create(params);
  const stream = await client.chat.completions.create({ ...params, stream: true });
  let reasoning = '';
  let content = '';
  for await (const chunk of stream) {
    const d = chunk.choices[0]?.delta ?? {};
    reasoning += d.reasoning_content ?? '';
    content += d.content ?? '';
  }
  // The R1 template opens <think>, so a random-weight model's output is reasoning.
  assert.ok(reasoning.length > 0);
  assert.equal(reasoning, full.choices[0].message.reasoning_content);
  assert.equal(content, full.choices[0].message.content);
});

test('completions (legacy) work, streaming and not', async () => {
  const full = await client.completions.create({ model: 'hearth-tiny-qwen2', prompt: 'Once upon a time', max_tokens: 10, temperature: 0 });
  assert.equal(full.object, 'text_completion');
  assert.equal(full.usage.completion_tokens <= 10, true);
  const stream = await client.completions.create({ model: 'hearth-tiny-qwen2', prompt: 'Once upon a time', max_tokens: 10, temperature: 0, stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
  assert.equal(text, full.choices[0].text);
});

test('embeddings: SDK default (base64) and float agree, vectors are unit length', async () => {
  const input = ['The quick brown fox', '敏捷的棕色狐狸'];
  const b64 = await client.embeddings.create({ model: 'hearth-tiny-bert-embed', input });
  const flt = await client.embeddings.create({ model: 'hearth-tiny-bert-embed', input, encoding_format: 'float' });
  assert.equal(b64.data.length, 2);
  for (let i = 0; i < 2; i++) {
    const a = b64.data[i].embedding;
    const b = flt.data[i].embedding;
    assert.equal(a.length, b.length);
    assert.ok(a.length > 0);
    const norm = Math.sqrt(b.reduce((s, x) => s + x * x, 0));
    assert.ok(Math.abs(norm - 1) < 1e-3, `norm ${norm}`);
    for (let k = 0; k < a.length; k++) assert.ok(Math.abs(a[k] - b[k]) < 1e-6);
  }
  assert.notDeepEqual(flt.data[0].embedding, flt.data[1].embedding);
  assert.ok(flt.usage.prompt_tokens > 0);
});

test('errors arrive as the SDK\'s typed errors', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404 && /no-such-model/.test(e.message),
  );
  await assert.rejects(
    client.chat.completions.create({ model: 'hearth-tiny-qwen2', messages: [{ role: 'user', content: 'x' }], temperature: 5 }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && /temperature/.test(e.message),
  );
});

test('API keys: a bad key is an AuthenticationError, a viewer\'s chat a PermissionDeniedError', async () => {
  const as = (apiKey) => new OpenAI({ baseURL: client.baseURL, apiKey, maxRetries: 0 });
  const ask = { model: 'hearth-tiny-qwen2', messages: [{ role: 'user', content: 'x' }], max_tokens: 1 };
  await assert.rejects(as('hk-AAAAAAAAAA.' + 'B'.repeat(40)).chat.completions.create(ask),
    (e) => e instanceof OpenAI.AuthenticationError && e.status === 401 && e.code === 'invalid_api_key');
  await assert.rejects(as(keys.viewer).chat.completions.create(ask),
    (e) => e instanceof OpenAI.PermissionDeniedError && e.status === 403 && /inference/.test(e.message));
  const ids = [];
  for await (const m of as(keys.viewer).models.list()) ids.push(m.id);
  assert.equal(ids.length, 3);
});

test('aborting a stream cancels the request on the server', async () => {
  const controller = new AbortController();
  const stream = await client.chat.completions.create(
    { model: 'hearth-tiny-qwen2', messages: [{ role: 'user', content: 'Write a very long story.' }], max_tokens: 2000, stream: true },
    { signal: controller.signal },
  );
  let chunks = 0;
  try {
    for await (const _ of stream) {
      if (++chunks === 3) controller.abort();
      if (chunks > 3) break;  // depending on the SDK version the loop ends or throws
    }
  } catch (e) {
    assert.ok(e.name === 'APIUserAbortError' || e.name === 'AbortError', `unexpected error ${e}`);
  }
  assert.ok(chunks >= 3);
  // The server notices and frees the sequence.
  const base = client.baseURL.replace(/\/v1$/, '');
  let cancelled = 0;
  for (let i = 0; i < 100 * slow && cancelled < 1; i++) {
    const text = await (await fetch(`${base}/metrics`, { headers: { Authorization: `Bearer ${keys.admin}` } })).text();
    const m = text.match(/hearth_requests_cancelled_total\{model="hearth-tiny-qwen2"\} (\d+)/);
    cancelled = m ? Number(m[1]) : 0;
    if (cancelled < 1) await sleep(100);
  }
  assert.ok(cancelled >= 1, 'the server counted the cancellation');
});

test('withResponse exposes the request id header', async () => {
  const { data, response } = await client.chat.completions
    .create({ model: 'hearth-tiny-qwen2', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 })
    .withResponse();
  const rid = response.headers.get('x-request-id');
  assert.ok(rid && rid.length > 0);
  assert.equal(data.id, `chatcmpl-${rid}`);
});

test('chat with knowledge: an upload through fetch/FormData, citations through the SDK (stream too)', async () => {
  const base = client.baseURL.replace(/\/v1$/, '');
  const created = await fetch(`${base}/v1/knowledge/collections`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${keys.user}` },
    body: JSON.stringify({ name: 'e2e' }),
  });
  assert.equal(created.status, 201, await created.text());
  const form = new FormData();
  form.append('file', new Blob(['# Boilers\n\nIf the boiler pressure exceeds three bar, open the relief valve.']), 'boilers.md');
  form.append('metadata', JSON.stringify({ site: 'plant-2' }));
  const up = await fetch(`${base}/v1/knowledge/collections/e2e/documents`,
    { method: 'POST', body: form, headers: { Authorization: `Bearer ${keys.user}` } });
  assert.equal(up.status, 201, await up.text());
  const ask = { model: 'hearth-tiny-qwen2', messages: [{ role: 'user', content: 'boiler pressure above three bar?' }],
                max_tokens: 3, temperature: 0, knowledge: { collections: ['e2e'], top_k: 1 } };
  const out = await client.chat.completions.create(ask);
  assert.equal(out.citations.length, 1);
  assert.equal(out.citations[0].document, 'upload://boilers.md');
  assert.equal(out.citations[0].index, 1);
  const stream = await client.chat.completions.create({ ...ask, stream: true });
  const seen = [];
  for await (const chunk of stream) if (chunk.citations) seen.push(chunk.citations);
  assert.deepEqual(seen, [out.citations]);
});
