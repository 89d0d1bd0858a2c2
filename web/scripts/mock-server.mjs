// A stand-in for Hearth's HTTP API, for working on the web app without the C++ server and for
// browser checks. In memory; node built-ins only. Not a reference for the server's behaviour
// beyond the shapes the app expects (see web/README.md, "Server API assumptions").
//
//   node scripts/mock-server.mjs [--port 8080] [--auth none]
//
// Users: admin / admin-password (admin), viewer / viewer-password (viewer).
// Chat triggers in the last user message: "think", "math", "code", "cite", "slow", "long",
// "rate" (429), "drop" (connection dropped mid-answer), "hostile" (XSS payloads).
// POST /mock/expire ends every session (to test signing in again mid-use).
import { createServer } from 'node:http';
import { readFileSync, existsSync, statSync } from 'node:fs';
import { join, extname, normalize } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const opt = (k, d) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
const PORT = Number(opt('--port', 8080));
const AUTH_NONE = opt('--auth', '') === 'none';
const DIST = fileURLToPath(new URL('../dist/', import.meta.url));

const now = () => Math.floor(Date.now() / 1000);
const id = (p) => `${p}${randomBytes(8).toString('hex')}`;
const ALL = ['models.read', 'inference', 'knowledge.read', 'knowledge.write', 'knowledge.sources', 'metrics.read', 'keys.manage', 'server.read', 'audit.read', 'privacy.manage', 'users.manage', 'account'];
const ROLES = { admin: ALL, user: ['models.read', 'inference', 'knowledge.read', 'knowledge.write', 'account'], viewer: ['models.read', 'knowledge.read', 'account'] };
const users = new Map([
  ['admin', { name: 'admin', role: 'admin', password: 'admin-password', created_at: now() - 86400, disabled: false }],
  ['viewer', { name: 'viewer', role: 'viewer', password: 'viewer-password', created_at: now() - 3600, disabled: false }],
]);
const sessions = new Map(); // sid -> {user, csrf}
const keys = [{ object: 'api_key', id: 'hk-AbCd012345', name: 'ward-3 tablets', role: 'user', created_at: now() - 5000, expires_at: null, revoked_at: null, last_used_at: now() - 60 }];
const models = [
  { id: 'qwen-tiny', state: 'loaded', aliases: ['tiny'], context_length: 4096, load: null },
  { id: 'big-model', state: 'unloaded', aliases: [], context_length: 32768, load: null },
  { id: 'manuals-qa', state: 'loaded', aliases: [], context_length: 4096, load: null, knowledge: { collections: ['manuals'] } },
];
const collections = [{ name: 'manuals', embedder: 'static:glove-6b-100d-v2', dimensions: 100, documents: 3, chunks: 42 }];
const jobs = [{ object: 'knowledge.job', id: 'job-1', kind: 'add_source', collection: 'manuals', source: '/srv/docs', trigger: 'api', status: 'succeeded', progress: { documents_done: 3, documents_total: 3, current: null }, counters: {}, errors: [{ document: '/srv/docs/scan.pdf', message: 'scan.pdf: not a readable PDF' }], errors_total: 1, created_at: now() - 900, started_at: now() - 900, finished_at: now() - 880 }];
const convs = new Map(); // owner -> Map(id -> {conv, items})
const audit = [];

function startLoad(m) {
  m.state = 'loading';
  m.load = 0;
  const t = setInterval(() => {
    m.load = Math.min(1, m.load + 0.2);
    if (m.load >= 1) {
      clearInterval(t);
      m.state = 'loaded';
      m.load = null;
    }
  }, 400);
}

function send(res, status, body, headers = {}) {
  const data = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json', ...headers });
  res.end(data);
}
const err = (res, status, message, code, type = 'invalid_request_error', headers = {}) => send(res, status, { error: { message, type, param: null, code } }, headers);

async function body(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks);
}
async function json(req) {
  const b = await body(req);
  return b.length ? JSON.parse(b.toString('utf8')) : {};
}
function cookie(req, name) {
  const m = (req.headers.cookie || '').match(new RegExp(`(?:^|; )${name}=([^;]+)`));
  return m ? m[1] : null;
}
function who(req) {
  if (AUTH_NONE) return { user: { name: 'anonymous', role: 'admin' }, csrf: null };
  const s = sessions.get(cookie(req, 'hearth_session'));
  return s && users.get(s.user.name) && !users.get(s.user.name).disabled ? s : null;
}
function me(s) {
  const u = s.user;
  return { kind: AUTH_NONE ? 'anonymous' : 'user', id: AUTH_NONE ? 'anonymous' : `user:${u.name}`, name: u.name, role: u.role, permissions: ROLES[u.role] ?? [], models: [], collections: [], auth_mode: AUTH_NONE ? 'none' : 'keys', ...(s.csrf ? { csrf_token: s.csrf } : {}) };
}
function store(owner) {
  if (!convs.has(owner)) convs.set(owner, new Map());
  return convs.get(owner);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function answerFor(text, knowledge) {
  const t = text.toLowerCase();
  const parts = { reasoning: '', content: '', citations: null };
  if (t.includes('think')) parts.reasoning = 'The user wants an answer. Let me think about the boiler, the pressure and the valve. 先想一想压力的单位。';
  if (knowledge || t.includes('cite')) {
    parts.citations = [
      { index: 1, collection: 'manuals', document: '/srv/docs/boilers.md', title: 'Boilers', location: { heading_path: 'Boilers > Pressure relief', page: 0, char_start: 10, char_end: 140 }, chunk_id: 42, score: 0.93, text: 'If the boiler pressure exceeds three bar, open the relief valve and call the duty engineer.' },
      { index: 2, collection: 'manuals', document: 'upload://安全手册.pdf', title: '安全手册', location: { heading_path: '锅炉 > 压力', page: 12, char_start: 300, char_end: 420 }, chunk_id: 77, score: 0.81, text: '锅炉压力超过三巴时，应打开泄压阀并通知值班工程师。' },
    ];
    parts.content += 'When the pressure is above 3 bar, open the relief valve [1]. 压力超过三巴时打开泄压阀[2]。\n\n';
  }
  if (t.includes('math')) parts.content += 'Euler: $e^{i\\pi} + 1 = 0$, and\n\n$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$\n\n';
  if (t.includes('code')) parts.content += 'Here is code:\n\n```python\ndef greet(name):\n    return f"hello {name}"  # 你好\n```\n\n';
  if (t.includes('hostile')) parts.content += '<img src=x onerror=alert(1)> [x](javascript:alert(1)) <script>alert(2)</script> <svg onload=alert(3)>\n\n';
  if (t.includes('long')) parts.content += Array.from({ length: 40 }, (_, i) => `Paragraph ${i + 1}: ${'lorem ipsum dolor sit amet '.repeat(6)}`).join('\n\n');
  if (!parts.content) parts.content = `You said: **${text.slice(0, 200)}**. 这是一个测试回答，包含中文。`;
  return parts;
}

function tokens(s) {
  return s.match(/[\u4e00-\u9fff]|\s*[^\s\u4e00-\u9fff]+|\s+/g) ?? [];
}

async function chat(req, res, s) {
  const b = await json(req);
  const last = [...(b.messages ?? [])].reverse().find((m) => m.role === 'user');
  const text = typeof last?.content === 'string' ? last.content : '';
  const model = models.find((m) => m.id === b.model || m.aliases.includes(b.model)) ?? models[0];
  if (b.model && !models.some((m) => m.id === b.model || m.aliases.includes(b.model))) return err(res, 404, `unknown model ${b.model}; known: ${models.map((m) => m.id).join(', ')}`, 'model_not_found', 'not_found_error');
  if (text.toLowerCase().includes('rate')) return err(res, 429, 'rate limit: requests', 'rate_limit_requests', 'rate_limit_error', { 'Retry-After': '5' });
  if (model.state === 'unloaded') startLoad(model);
  while (model.state === 'loading') await sleep(200);
  const a = answerFor(text, !!b.knowledge || !!model.knowledge);
  const cid = id('chatcmpl-');
  const base = { id: cid, object: 'chat.completion.chunk', created: now(), model: model.id, system_fingerprint: 'hearth' };
  if (!b.stream) return send(res, 200, { ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: a.content, reasoning_content: a.reasoning || undefined }, finish_reason: 'stop' }], usage: { prompt_tokens: 20, completion_tokens: 30, total_tokens: 50 } });
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
  let closed = false;
  res.on('close', () => (closed = true));
  const emit = (o) => !closed && res.write(`data: ${JSON.stringify(o)}\n\n`);
  const delay = text.toLowerCase().includes('slow') ? 120 : 18;
  emit({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }], ...(a.citations ? { citations: a.citations } : {}) });
  res.write(': keep-alive\n\n');
  let n = 0;
  const t0 = Date.now();
  for (const tk of tokens(a.reasoning)) {
    if (closed) return;
    emit({ ...base, choices: [{ index: 0, delta: { reasoning_content: tk }, finish_reason: null }] });
    n++;
    await sleep(delay);
  }
  const toks = tokens(a.content);
  for (let i = 0; i < toks.length; i++) {
    if (closed) return;
    if (text.toLowerCase().includes('drop') && i === Math.floor(toks.length / 2)) return req.socket.destroy();
    emit({ ...base, choices: [{ index: 0, delta: { content: toks[i] }, finish_reason: null }] });
    n++;
    if (b.max_tokens && n >= b.max_tokens) break;
    await sleep(delay);
  }
  emit({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
  if (b.stream_options?.include_usage) emit({ ...base, choices: [], usage: { prompt_tokens: 12 + (b.messages?.length ?? 0) * 8, completion_tokens: n, total_tokens: 12 + n }, timings: { prompt_ms: 5.1, predicted_ms: Date.now() - t0, predicted_n: n } });
  if (!closed) res.end('data: [DONE]\n\n');
  audit.push({ time_ms: Date.now(), principal: `user:${s.user.name}`, role: s.user.role, method: 'POST', route: '/v1/chat/completions', model: model.id, action: 'chat.completions.create', decision: 'allow', status: 200, outcome: 'ok', prompt_tokens: 20, completion_tokens: n });
}

async function conversationsApi(req, res, s, url, parts) {
  const mine = store(s.user.name);
  const method = req.method;
  const [, , cid, sub, itemId] = parts; // v1, conversations, id, items, item
  if (!cid && method === 'GET') {
    const q = (url.searchParams.get('q') || '').toLowerCase();
    const limit = Number(url.searchParams.get('limit') || 20);
    const after = url.searchParams.get('after');
    let all = [...mine.values()].sort((a, b) => b.conv.updated_at - a.conv.updated_at || (b.seq - a.seq));
    if (q) all = all.filter((c) => (c.conv.metadata.title || '').toLowerCase().includes(q) || c.items.some((it) => it.content.some((p) => p.text.toLowerCase().includes(q))));
    let start = 0;
    if (after) start = all.findIndex((c) => c.conv.id === after) + 1;
    const page = all.slice(start, start + limit).map((c) => ({ ...c.conv, item_count: c.items.length }));
    return send(res, 200, { object: 'list', data: page, has_more: start + limit < all.length, first_id: page[0]?.id ?? null, last_id: page[page.length - 1]?.id ?? null });
  }
  if (cid === 'import' && method === 'POST') {
    const b = await json(req);
    if (b.object !== 'conversation.export') return err(res, 400, 'not a conversation export', 'invalid_argument');
    const c = { conv: { id: id('conv_'), object: 'conversation', created_at: now(), updated_at: now(), metadata: b.conversation?.metadata ?? {} }, items: (b.items ?? []).map((it) => ({ ...it, id: id('msg_') })), seq: seqN++ };
    mine.set(c.conv.id, c);
    return send(res, 200, { ...c.conv, item_count: c.items.length });
  }
  if (!cid && method === 'POST') {
    const b = await json(req);
    const c = { conv: { id: id('conv_'), object: 'conversation', created_at: now(), updated_at: now(), metadata: b.metadata ?? {} }, items: [], seq: seqN++ };
    for (const it of b.items ?? []) c.items.push({ ...it, id: id('msg_'), created_at: now() });
    mine.set(c.conv.id, c);
    return send(res, 200, { ...c.conv, item_count: c.items.length });
  }
  const c = mine.get(cid);
  if (!c) return err(res, 404, `conversation ${cid} not found`, 'not_found', 'not_found_error');
  if (!sub) {
    if (method === 'GET') return send(res, 200, { ...c.conv, item_count: c.items.length });
    if (method === 'POST') {
      const b = await json(req);
      c.conv.metadata = b.metadata ?? {};
      c.conv.updated_at = now();
      return send(res, 200, { ...c.conv, item_count: c.items.length });
    }
    if (method === 'DELETE') {
      mine.delete(cid);
      return send(res, 200, { id: cid, object: 'conversation.deleted', deleted: true });
    }
  }
  if (sub === 'export') return send(res, 200, { object: 'conversation.export', conversation: c.conv, items: c.items });
  if (sub === 'items') {
    if (method === 'GET' && !itemId) {
      const order = url.searchParams.get('order') || 'desc';
      const limit = Number(url.searchParams.get('limit') || 20);
      const after = url.searchParams.get('after');
      const all = order === 'asc' ? c.items : [...c.items].reverse();
      const start = after ? all.findIndex((x) => x.id === after) + 1 : 0;
      const data = all.slice(start, start + limit);
      return send(res, 200, { object: 'list', data, has_more: start + limit < all.length, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null });
    }
    if (method === 'POST') {
      const b = await json(req);
      const added = (b.items ?? []).map((it) => ({ ...it, id: id('msg_'), created_at: now() }));
      c.items.push(...added);
      c.conv.updated_at = now();
      return send(res, 200, { object: 'list', data: added, first_id: added[0]?.id, last_id: added.at(-1)?.id, has_more: false });
    }
    if (method === 'DELETE' && itemId) {
      const i = c.items.findIndex((x) => x.id === itemId);
      if (i < 0) return err(res, 404, 'item not found', 'not_found', 'not_found_error');
      c.items.splice(i, url.searchParams.get('and_after') === 'true' ? Infinity : 1);
      c.conv.updated_at = now();
      return send(res, 200, { ...c.conv, item_count: c.items.length });
    }
  }
  return err(res, 404, 'unknown route', 'not_found', 'not_found_error');
}
let seqN = 0;

async function api(req, res, url) {
  const p = url.pathname;
  const parts = p.split('/').filter(Boolean).map(decodeURIComponent);
  if (p === '/health') return send(res, 200, { status: 'ok', models: models.map(({ id: i, state, load }) => ({ id: i, state, load })) });
  if (p === '/v1/auth/providers') return process.env.MOCK_OIDC ? send(res, 200, { password: true, oidc: { name: 'Example SSO', login_url: '/v1/auth/oidc/start' } }) : err(res, 404, 'unknown route', 'not_found', 'not_found_error');
  if (p === '/v1/auth/login' && req.method === 'POST') {
    const b = await json(req);
    if (b.username === 'locked') return err(res, 429, 'too many sign-in attempts', 'rate_limit_requests', 'rate_limit_error', { 'Retry-After': '30' });
    const u = users.get(String(b.username || '').toLowerCase());
    if (!u || u.password !== b.password) return err(res, 401, 'wrong user name or password', 'invalid_session', 'authentication_error');
    if (u.disabled) return err(res, 403, 'user disabled', 'permission_denied', 'permission_error');
    const sid = id('hs-');
    const csrf = randomBytes(16).toString('hex');
    sessions.set(sid, { user: u, csrf });
    return send(res, 200, { object: 'session', session_id: sid.slice(0, 12), expires_at: now() + 43200, user: { name: u.name, role: u.role }, csrf_token: csrf }, { 'Set-Cookie': `hearth_session=${sid}; HttpOnly; SameSite=Strict; Path=/` });
  }
  if (p === '/mock/expire') {
    sessions.clear();
    return send(res, 200, { ok: true });
  }
  const s = who(req);
  if (!s) return err(res, 401, 'session expired or missing', 'invalid_session', 'authentication_error', { 'WWW-Authenticate': 'Bearer' });
  if (!['GET', 'HEAD'].includes(req.method) && s.csrf && req.headers['x-csrf-token'] !== s.csrf) return err(res, 403, 'missing or wrong CSRF token', 'permission_denied', 'permission_error');
  const perms = ROLES[s.user.role] ?? [];
  const need = (perm) => {
    if (perms.includes(perm)) return false;
    err(res, 403, `permission ${perm} required`, 'permission_denied', 'permission_error');
    return true;
  };
  if (p === '/v1/auth/me') return send(res, 200, me(s));
  if (p === '/v1/auth/logout') {
    sessions.delete(cookie(req, 'hearth_session'));
    return send(res, 200, { ok: true }, { 'Set-Cookie': 'hearth_session=; Max-Age=0; Path=/' });
  }
  if (p === '/v1/models') return send(res, 200, { object: 'list', data: models.map((m) => ({ id: m.id, object: 'model', owned_by: 'hearth', aliases: m.aliases, context_length: m.context_length, state: m.state, ...(m.knowledge ? { knowledge: m.knowledge } : {}) })) });
  if (p === '/v1/chat/completions') return need('inference') || chat(req, res, s);
  if (parts[1] === 'conversations') return conversationsApi(req, res, s, url, parts);
  if (p === '/v1/knowledge/collections') return send(res, 200, { object: 'list', data: collections });
  if (p === '/v1/knowledge/jobs') return send(res, 200, { object: 'list', data: jobs });
  if (p === '/v1/knowledge/search') {
    const b = await json(req);
    return send(res, 200, { object: 'list', query: b.query, data: [{ collection: 'manuals', document: '/srv/docs/boilers.md', title: 'Boilers', heading_path: 'Boilers > Pressure relief', page: 0, char_start: 10, char_end: 140, chunk_id: 42, text: `…${b.query}… If the boiler pressure exceeds three bar, open the relief valve.`, score: 0.9, keyword_score: 0.8, semantic_score: 0.7 }] });
  }
  if (parts[1] === 'knowledge' && parts[2] === 'collections' && parts[4] === 'documents' && req.method === 'POST') {
    if (need('knowledge.write')) return undefined;
    const raw = await body(req);
    const name = /filename="([^"]+)"/.exec(raw.toString('latin1'))?.[1] ?? 'file';
    if (!/\.(txt|md|markdown|html?|pdf|docx|csv|json)$/i.test(name)) return err(res, 400, `${name}: unsupported format (use .txt .md .html .pdf .docx)`, 'invalid_argument');
    collections[0].documents++;
    return send(res, 201, { uri: `upload://${name}`, counters: { documents_added: 1, chunks_embedded: 4 } });
  }
  if (parts[1] === 'knowledge' && parts[4] === 'sources') return send(res, 200, { object: 'list', data: [{ id: 'src-1', uri: '/srv/docs', include: '*.md', exclude: '', interval_seconds: 3600, last_synced_at: now() - 880 }] });
  if (parts[1] === 'knowledge' && parts[4] === 'sync') {
    const j = { ...jobs[0], id: `job-${jobs.length + 1}`, kind: 'sync', status: 'running', progress: { documents_done: 0, documents_total: 5, current: '/srv/docs/a.md' }, created_at: now(), errors: [], errors_total: 0 };
    jobs.unshift(j);
    const t = setInterval(() => {
      j.progress.documents_done++;
      if (j.progress.documents_done >= 5) {
        j.status = 'succeeded';
        clearInterval(t);
      }
    }, 700);
    return send(res, 202, j);
  }
  if (parts[1] === 'admin') {
    if (parts[2] === 'users') {
      if (need('users.manage')) return undefined;
      if (req.method === 'GET') return send(res, 200, { object: 'list', data: [...users.values()].map(({ password, ...u }) => u) });
      if (req.method === 'POST' && parts[4] === 'password') {
        users.get(parts[3]).password = (await json(req)).password;
        return send(res, 200, { ok: true });
      }
      if (req.method === 'POST') {
        const b = await json(req);
        if (users.has(b.name)) return err(res, 400, `user ${b.name} exists`, 'invalid_argument');
        users.set(b.name, { name: b.name, role: b.role, password: b.password, created_at: now(), disabled: false });
        return send(res, 201, { name: b.name, role: b.role });
      }
      if (req.method === 'DELETE') {
        const u = users.get(parts[3]);
        if (!u) return err(res, 404, 'no such user', 'not_found', 'not_found_error');
        u.disabled = true;
        return send(res, 200, { name: u.name, disabled: true });
      }
    }
    if (parts[2] === 'keys') {
      if (need('keys.manage')) return undefined;
      if (req.method === 'GET') return send(res, 200, { object: 'list', data: keys });
      if (req.method === 'POST') {
        const b = await json(req);
        const kid = `hk-${randomBytes(5).toString('hex')}`;
        const k = { object: 'api_key', id: kid, name: b.name, role: b.role, created_at: now(), expires_at: b.expires_at ?? null, revoked_at: null, last_used_at: null };
        keys.push(k);
        return send(res, 201, { ...k, key: `${kid}.${randomBytes(20).toString('hex')}` });
      }
      if (req.method === 'DELETE') {
        const k = keys.find((x) => x.id === parts[3]);
        if (!k) return err(res, 404, 'no such key', 'not_found', 'not_found_error');
        k.revoked_at = now();
        return send(res, 200, k);
      }
    }
    if (parts[2] === 'audit' && parts[3] === 'verify') return send(res, 200, { ok: true, records: audit.length });
    if (parts[2] === 'audit') {
      if (need('audit.read')) return undefined;
      const from = Number(url.searchParams.get('from') || 0);
      const pr = url.searchParams.get('principal');
      const lines = audit.filter((r) => r.time_ms >= from && (!pr || r.principal === pr)).map((r) => JSON.stringify(r)).join('\n');
      return send(res, 200, lines + (lines ? '\n' : ''), { 'Content-Type': 'application/x-ndjson' });
    }
    if (parts[2] === 'usage') {
      const bucket = url.searchParams.get('bucket') === 'day' ? 86400000 : 3600000;
      const to = Number(url.searchParams.get('to') || Date.now());
      const from = Number(url.searchParams.get('from') || to - 86400000);
      const groups = url.searchParams.get('group') === 'model' ? ['qwen-tiny', 'big-model'] : ['user:admin', 'hk-AbCd012345', 'user:viewer'];
      const data = [];
      for (let t = Math.floor(from / bucket) * bucket; t <= to; t += bucket) groups.forEach((g, i) => data.push({ t, group: g, requests: ((t / bucket) * (i + 3)) % 17, prompt_tokens: ((t / bucket) * (i + 7)) % 900, completion_tokens: ((t / bucket) * (i + 5)) % 400 }));
      return send(res, 200, { object: 'list', bucket: bucket === 3600000 ? 'hour' : 'day', data });
    }
    if (parts[2] === 'models' && req.method === 'POST') {
      const m = models.find((x) => x.id === parts[3]);
      if (!m) return err(res, 404, 'unknown model', 'model_not_found', 'not_found_error');
      if (parts[4] === 'load') startLoad(m);
      else {
        m.state = 'unloaded';
        m.load = null;
      }
      return send(res, 200, { id: m.id, state: m.state });
    }
  }
  return err(res, 404, `unknown route ${req.method} ${p}`, 'not_found', 'not_found_error');
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.woff2': 'font/woff2', '.woff': 'font/woff', '.ttf': 'font/ttf', '.json': 'application/json' };

createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  try {
    if (url.pathname.startsWith('/v1/') || url.pathname === '/health' || url.pathname.startsWith('/mock/')) return await api(req, res, url);
    let file = normalize(join(DIST, url.pathname));
    if (!file.startsWith(DIST) || !existsSync(file) || statSync(file).isDirectory()) file = join(DIST, 'index.html');
    if (!existsSync(file)) return send(res, 404, 'run `npm run build` first');
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Security-Policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'" });
    res.end(readFileSync(file));
  } catch (e) {
    if (!res.headersSent) err(res, 500, String(e?.message ?? e), 'internal', 'server_error');
  }
}).listen(PORT, '127.0.0.1', () => console.log(`mock Hearth on http://127.0.0.1:${PORT}${AUTH_NONE ? ' (auth none)' : ''}`));
