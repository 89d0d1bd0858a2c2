// The chat flow against a fake server: what is saved, in what order, for send, stop,
// regenerate, edit+resend, a dropped stream and a session that ended mid-way.
import { describe, it, expect, vi, afterEach } from 'vitest';
import { ChatSession } from './session.svelte.js';
import { onAuthLost } from './api.js';

const enc = new TextEncoder();

function fakeServer({ answer = 'Hello 你好', drop = false, failFirst401 = null } = {}) {
  const calls = [];
  let n = 0;
  const items = [];
  let authed = true;
  const fetch = vi.fn(async (url, init = {}) => {
    const method = init.method ?? 'GET';
    const body = init.body ? JSON.parse(init.body) : null;
    calls.push(`${method} ${url}`);
    if (!authed || (failFirst401 && method === failFirst401.method && url.includes(failFirst401.path) && !failFirst401.done)) {
      if (failFirst401) failFirst401.done = true;
      return new Response('{"error":{"message":"expired","code":"invalid_session"}}', { status: 401 });
    }
    if (url === '/v1/chat/completions') {
      const chunks = [...answer].map((c) => `data: ${JSON.stringify({ choices: [{ delta: { content: c } }] })}\n\n`);
      const parts = drop ? chunks.slice(0, 3) : [...chunks, `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 3, completion_tokens: chunks.length } })}\n\n`, 'data: [DONE]\n\n'];
      let i = 0;
      const stream = new ReadableStream({
        async pull(c) {
          await new Promise((r) => setTimeout(r, 1));
          if (init.signal?.aborted) return c.error(Object.assign(new Error('aborted'), { name: 'AbortError' }));
          if (i < parts.length) c.enqueue(enc.encode(parts[i++]));
          else if (drop) c.error(new TypeError('network error'));
          else c.close();
        },
      });
      return new Response(stream, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
    }
    if (url === '/v1/conversations' && method === 'POST') return Response.json({ id: 'conv_1', object: 'conversation', metadata: body.metadata, created_at: 1, updated_at: 1 });
    if (url === '/v1/conversations/conv_1/items' && method === 'POST') {
      const added = body.items.map((it) => ({ ...it, id: `msg_${++n}` }));
      items.push(...added);
      return Response.json({ object: 'list', data: added });
    }
    if (url.startsWith('/v1/conversations/conv_1/items/') && method === 'DELETE') {
      const id = url.split('/').pop().split('?')[0];
      const i = items.findIndex((x) => x.id === id);
      items.splice(i, url.includes('and_after=true') ? Infinity : 1);
      return Response.json({ id: 'conv_1', object: 'conversation' });
    }
    return new Response('{"error":{"message":"nope"}}', { status: 404 });
  });
  return { fetch, calls, items, setAuthed: (v) => (authed = v) };
}

const settle = async (s) => {
  for (let i = 0; i < 50 && s.streaming; i++) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 20));
};
const text = (items) => items.map((i) => `${i.role}:${i.status}:${i.content[0].text}`);

afterEach(() => {
  vi.unstubAllGlobals();
  onAuthLost(null);
});

describe('ChatSession', () => {
  it('first message creates the conversation, then saves the question, then the answer', async () => {
    const srv = fakeServer();
    vi.stubGlobal('fetch', srv.fetch);
    const changes = [];
    const s = new ChatSession({ onConversationChange: (c, o) => changes.push([c.id, !!o.created]) });
    s.settings = { ...s.settings, model: 'qwen', system_prompt: 'Be brief', temperature: '0.5', max_tokens: '' };
    await s.send('What is the boiler pressure limit for the main hall?');
    await settle(s);
    expect(srv.calls.filter((c) => !c.includes('chat/completions'))).toEqual(['POST /v1/conversations', 'POST /v1/conversations/conv_1/items', 'POST /v1/conversations/conv_1/items']);
    const created = srv.fetch.mock.calls.find(([u, i]) => u === '/v1/conversations' && i.method === 'POST');
    expect(JSON.parse(created[1].body).metadata).toEqual({ title: 'What is the boiler pressure limit for th…', system_prompt: 'Be brief', temperature: '0.5', model: 'qwen' });
    const chat = JSON.parse(srv.fetch.mock.calls.find(([u]) => u === '/v1/chat/completions')[1].body);
    expect(chat.messages[0]).toEqual({ role: 'system', content: 'Be brief' });
    expect(chat.temperature).toBe(0.5);
    expect(text(srv.items)).toEqual(['user:completed:What is the boiler pressure limit for the main hall?', 'assistant:completed:Hello 你好']);
    expect(srv.items[1].hearth.usage.completion_tokens).toBe(8);
    expect(s.messages.map((m) => m.content)).toEqual(['What is the boiler pressure limit for the main hall?', 'Hello 你好']);
    expect(changes[0]).toEqual(['conv_1', true]);
  });

  it('regenerate deletes the last answer on the server and saves the new one', async () => {
    const srv = fakeServer();
    vi.stubGlobal('fetch', srv.fetch);
    const s = new ChatSession();
    await s.send('q');
    await settle(s);
    await s.regenerate();
    await settle(s);
    expect(srv.calls.filter((c) => c.startsWith('DELETE'))).toEqual(['DELETE /v1/conversations/conv_1/items/msg_2']);
    expect(text(srv.items)).toEqual(['user:completed:q', 'assistant:completed:Hello 你好']);
    expect(s.messages).toHaveLength(2);
  });

  it('edit and resend deletes from the edited message on (and_after) and saves the new question', async () => {
    const srv = fakeServer();
    vi.stubGlobal('fetch', srv.fetch);
    const s = new ChatSession();
    await s.send('one');
    await settle(s);
    await s.send('two');
    await settle(s);
    await s.editResend(0, 'ONE');
    await settle(s);
    expect(srv.calls).toContain('DELETE /v1/conversations/conv_1/items/msg_1?and_after=true');
    expect(text(srv.items)).toEqual(['user:completed:ONE', 'assistant:completed:Hello 你好']);
    expect(s.messages.map((m) => m.content)).toEqual(['ONE', 'Hello 你好']);
  });

  it('a dropped stream keeps the partial answer, saved as incomplete, with a retry', async () => {
    const srv = fakeServer({ drop: true });
    vi.stubGlobal('fetch', srv.fetch);
    const s = new ChatSession();
    await s.send('q');
    await settle(s);
    expect(s.messages[1]).toMatchObject({ role: 'assistant', content: 'Hel', status: 'incomplete' });
    expect(s.error.retry).toBe(true);
    expect(s.error.err.network).toBe(true);
    expect(text(srv.items)).toEqual(['user:completed:q', 'assistant:incomplete:Hel']);
  });

  it('stop saves what arrived as incomplete, without an error', async () => {
    const srv = fakeServer({ answer: 'x'.repeat(200) });
    vi.stubGlobal('fetch', srv.fetch);
    const s = new ChatSession();
    const p = s.send('q');
    await new Promise((r) => setTimeout(r, 30));
    s.stop();
    await p;
    await settle(s);
    expect(s.messages[1].status).toBe('incomplete');
    expect(s.messages[1].content.length).toBeGreaterThan(0);
    expect(s.error).toBeNull();
    expect(srv.items[1].status).toBe('incomplete');
    expect(srv.items[1].hearth.finish_reason).toBe('cancelled');
  });

  it('saving refused by an ended session waits for sign-in and then runs, in order', async () => {
    const srv = fakeServer({ failFirst401: { method: 'POST', path: '/items' } });
    vi.stubGlobal('fetch', srv.fetch);
    const lost = vi.fn();
    onAuthLost(lost);
    const s = new ChatSession();
    await s.send('q');
    await settle(s);
    expect(lost).toHaveBeenCalled();
    expect(srv.items).toHaveLength(0); // both items wait behind the refused one
    s.resumeAfterSignIn();
    await new Promise((r) => setTimeout(r, 30));
    expect(text(srv.items)).toEqual(['user:completed:q', 'assistant:completed:Hello 你好']);
    expect(s.saveError).toBeNull();
  });
});
