import { describe, it, expect, vi, afterEach } from 'vitest';
import { streamChat, apiFetch, setCsrf, onAuthLost, ApiError, errorFrom } from './api.js';

const enc = new TextEncoder();
function sse(parts, { error } = {}) {
  let i = 0;
  return new ReadableStream({
    pull(c) {
      if (i < parts.length) c.enqueue(enc.encode(parts[i++]));
      else if (error) c.error(new TypeError('network error'));
      else c.close();
    },
  });
}
function respond(body, init = {}) {
  return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' }, ...init });
}

afterEach(() => {
  vi.unstubAllGlobals();
  setCsrf(null);
  onAuthLost(null);
});

describe('streamChat', () => {
  it('posts with the CSRF header and same-origin credentials, streams chunks to [DONE]', async () => {
    setCsrf('tok123');
    const fetch = vi.fn(async () => respond(sse(['data: {"choices":[{"delta":{"content":"你"}}]}\n\n', 'data: {"choices":[{"delta":{"content":"好"}}]}\n\ndata: [DONE]\n\n'])));
    vi.stubGlobal('fetch', fetch);
    const chunks = [];
    const r = await streamChat({ messages: [] }, { onChunk: (c) => chunks.push(c) });
    expect(r).toEqual({ done: true });
    expect(chunks.map((c) => c.choices[0].delta.content).join('')).toBe('你好');
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe('/v1/chat/completions');
    expect(init.credentials).toBe('same-origin');
    expect(init.headers['X-CSRF-Token']).toBe('tok123');
  });

  it('reports a stream that ends without [DONE] as not done', async () => {
    vi.stubGlobal('fetch', async () => respond(sse(['data: {"choices":[{"delta":{"content":"par"}}]}\n\n'])));
    const chunks = [];
    expect(await streamChat({}, { onChunk: (c) => chunks.push(c) })).toEqual({ done: false });
    expect(chunks).toHaveLength(1);
  });

  it('a dropped connection mid-stream rejects as a network error after delivering what came', async () => {
    vi.stubGlobal('fetch', async () => respond(sse(['data: {"choices":[{"delta":{"content":"part"}}]}\n\n'], { error: true })));
    const chunks = [];
    const err = await streamChat({}, { onChunk: (c) => chunks.push(c) }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.network).toBe(true);
    expect(chunks).toHaveLength(1);
  });

  it('an error event in the stream rejects with its message', async () => {
    vi.stubGlobal('fetch', async () => respond(sse(['data: {"error":{"message":"model crashed","type":"server_error","code":"internal"}}\n\n'])));
    const err = await streamChat({}, { onChunk: () => {} }).catch((e) => e);
    expect(err.message).toBe('model crashed');
    expect(err.code).toBe('internal');
  });

  it('429 carries Retry-After; 401 calls the auth-lost hook', async () => {
    const body = JSON.stringify({ error: { message: 'slow down', type: 'rate_limit_error', code: 'rate_limit_requests', param: null } });
    vi.stubGlobal('fetch', async () => new Response(body, { status: 429, headers: { 'Retry-After': '12', 'Content-Type': 'application/json' } }));
    const err = await streamChat({}, { onChunk: () => {} }).catch((e) => e);
    expect(err).toMatchObject({ status: 429, retryAfter: 12, code: 'rate_limit_requests', message: 'slow down' });

    const lost = vi.fn();
    onAuthLost(lost);
    vi.stubGlobal('fetch', async () => new Response('{"error":{"message":"expired","type":"authentication_error","code":"invalid_session"}}', { status: 401 }));
    await streamChat({}, { onChunk: () => {} }).catch(() => {});
    expect(lost).toHaveBeenCalledOnce();
    expect(lost.mock.calls[0][0].code).toBe('invalid_session');
  });

  it('a network failure before any response is a network ApiError; abort stays an AbortError', async () => {
    vi.stubGlobal('fetch', async () => {
      throw new TypeError('Failed to fetch');
    });
    expect((await streamChat({}, { onChunk: () => {} }).catch((e) => e)).network).toBe(true);
    vi.stubGlobal('fetch', async () => {
      throw Object.assign(new Error('aborted'), { name: 'AbortError' });
    });
    expect((await streamChat({}, { onChunk: () => {} }).catch((e) => e)).name).toBe('AbortError');
  });
});

describe('apiFetch', () => {
  it('sends CSRF only on non-GET requests, and JSON bodies', async () => {
    setCsrf('c');
    const fetch = vi.fn(async () => new Response('{"ok":true}', { status: 200 }));
    vi.stubGlobal('fetch', fetch);
    await apiFetch('/v1/x');
    await apiFetch('/v1/x', { method: 'POST', body: { a: 1 } });
    expect(fetch.mock.calls[0][1].headers['X-CSRF-Token']).toBeUndefined();
    expect(fetch.mock.calls[1][1].headers['X-CSRF-Token']).toBe('c');
    expect(fetch.mock.calls[1][1].body).toBe('{"a":1}');
  });

  it('does not report auth loss for sign-in calls', async () => {
    const lost = vi.fn();
    onAuthLost(lost);
    vi.stubGlobal('fetch', async () => new Response('{"error":{"message":"no","code":"invalid_session"}}', { status: 401 }));
    await apiFetch('/v1/auth/me', { authCheck: false }).catch(() => {});
    expect(lost).not.toHaveBeenCalled();
  });

  it('reads error bodies that are not JSON', async () => {
    const e = await errorFrom(new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }));
    expect(e.status).toBe(502);
    expect(e.message).toBe('Bad Gateway');
  });
});
