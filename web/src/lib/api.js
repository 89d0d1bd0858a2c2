// fetch() wrapper: same-origin cookies, the CSRF header on every non-GET request, the API's
// error bodies turned into ApiError, and a hook for "the session ended" (any 401 in use).
import { parseRetryAfter } from './format.js';
import { readSSEJson } from './sse.js';

let csrfToken = null;
let authLost = null;

export function setCsrf(token) {
  csrfToken = token || null;
}
export function getCsrf() {
  return csrfToken;
}
// fn(err) is called for a 401 on any request made with authCheck (the default).
export function onAuthLost(fn) {
  authLost = fn;
}

// For requests made without apiFetch (XMLHttpRequest uploads).
export function reportAuthLost(err) {
  authLost?.(err);
}

export class ApiError extends Error {
  constructor({ status = 0, message = '', type = '', code = '', param = null, retryAfter = null, network = false } = {}) {
    super(message || (network ? 'network error' : `HTTP ${status}`));
    this.name = 'ApiError';
    this.status = status;
    this.type = type;
    this.code = code;
    this.param = param;
    this.retryAfter = retryAfter;
    this.network = network;
  }
  get notFound() {
    return this.status === 404;
  }
}

export function isAbort(err) {
  return err?.name === 'AbortError';
}

// Builds an ApiError from a non-2xx response: {"error":{"message","type","code","param"}}.
export async function errorFrom(resp) {
  let body = null;
  try {
    const text = await resp.text();
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  const e = body?.error ?? {};
  return new ApiError({
    status: resp.status,
    message: typeof e === 'string' ? e : e.message || resp.statusText || '',
    type: e.type || '',
    code: e.code || '',
    param: e.param ?? null,
    retryAfter: parseRetryAfter(resp.headers.get('Retry-After')),
  });
}

export function headersFor(method, extra = {}) {
  const h = { ...extra };
  if (csrfToken && !['GET', 'HEAD', 'OPTIONS'].includes(method)) h['X-CSRF-Token'] = csrfToken;
  return h;
}

// expect: 'json' (default), 'text', 'response'. authCheck: false for the sign-in calls.
export async function apiFetch(path, { method = 'GET', body, signal, headers = {}, expect = 'json', authCheck = true } = {}) {
  const h = headersFor(method, headers);
  let payload = body;
  if (body !== undefined && !(body instanceof FormData) && typeof body !== 'string') {
    h['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, { method, credentials: 'same-origin', headers: h, body: payload, signal });
  } catch (err) {
    if (isAbort(err)) throw err;
    throw new ApiError({ network: true, message: err?.message || 'network error' });
  }
  if (!resp.ok) {
    const err = await errorFrom(resp);
    if (err.status === 401 && authCheck) authLost?.(err);
    throw err;
  }
  if (expect === 'response') return resp;
  if (expect === 'text') return resp.text();
  if (resp.status === 204) return null;
  const text = await resp.text();
  return text ? JSON.parse(text) : null;
}

export const api = {
  get: (p, o) => apiFetch(p, { ...o, method: 'GET' }),
  post: (p, body, o) => apiFetch(p, { ...o, method: 'POST', body: body ?? {} }),
  put: (p, body, o) => apiFetch(p, { ...o, method: 'PUT', body: body ?? {} }),
  del: (p, o) => apiFetch(p, { ...o, method: 'DELETE' }),
};

export const enc = encodeURIComponent;

export function query(params) {
  const q = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${enc(k)}=${enc(v)}`)
    .join('&');
  return q ? `?${q}` : '';
}

// POST /v1/chat/completions with stream:true; calls onChunk(chunk) for each parsed chunk.
// Resolves {done:true} at [DONE]; {done:false} when the stream ended without it (dropped).
// Rejects with ApiError (HTTP error, an error event in the stream, or the network) or AbortError.
export async function streamChat(body, { signal, onChunk }) {
  let resp;
  try {
    resp = await fetch('/v1/chat/completions', {
      method: 'POST',
      credentials: 'same-origin',
      headers: headersFor('POST', { 'Content-Type': 'application/json', Accept: 'text/event-stream' }),
      body: JSON.stringify(body),
      signal,
    });
  } catch (err) {
    if (isAbort(err)) throw err;
    throw new ApiError({ network: true, message: err?.message || 'network error' });
  }
  if (!resp.ok) {
    const err = await errorFrom(resp);
    if (err.status === 401) authLost?.(err);
    throw err;
  }
  const type = resp.headers.get('Content-Type') || '';
  if (type.includes('application/json')) {
    // A server that answered without streaming: treat the whole answer as one chunk.
    const full = await resp.json();
    onChunk({ ...full, choices: (full.choices ?? []).map((c) => ({ ...c, delta: c.message })) });
    return { done: true };
  }
  try {
    for await (const ev of readSSEJson(resp.body, signal)) {
      if (ev.done) return { done: true };
      if (ev.error) {
        const e = ev.error;
        throw new ApiError({ status: 0, message: e.message || String(e), type: e.type, code: e.code, param: e.param });
      }
      onChunk(ev);
    }
  } catch (err) {
    if (isAbort(err) || err instanceof ApiError) throw err;
    if (err instanceof SyntaxError) throw new ApiError({ message: `bad stream data: ${err.message}` });
    throw new ApiError({ network: true, message: err?.message || 'connection lost' });
  }
  return { done: false };
}
