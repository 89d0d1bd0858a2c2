// Sign-in, sign-out and "who am I" against Hearth's cookie sessions.
import { api, setCsrf, ApiError } from './api.js';

export async function fetchMe() {
  const me = await api.get('/v1/auth/me', { authCheck: false });
  if (me?.csrf_token) setCsrf(me.csrf_token);
  return me;
}

export async function login(username, password) {
  const r = await api.post('/v1/auth/login', { username, password, session: 'cookie' }, { authCheck: false });
  if (r?.csrf_token) setCsrf(r.csrf_token);
  return r;
}

export async function logout() {
  try {
    await api.post('/v1/auth/logout', {}, { authCheck: false });
  } finally {
    setCsrf(null);
  }
}

// {password: bool, oidc: {name, login_url}|null} or null when the server has no such route.
export async function fetchProviders() {
  try {
    const p = await api.get('/v1/auth/providers', { authCheck: false });
    const oidc = p?.oidc && typeof p.oidc === 'object' && isLocalPath(p.oidc.login_url) ? p.oidc : null;
    return { password: p?.password !== false, oidc };
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    return null;
  }
}

// Only same-origin paths are followed (never a URL the response could point anywhere).
export function isLocalPath(u) {
  return typeof u === 'string' && /^\/(?![/\\])/.test(u);
}

// A failed sign-in -> {key, params} for t().
export function loginError(err) {
  if (!(err instanceof ApiError)) return { key: 'error.generic', params: { message: String(err?.message ?? err) } };
  if (err.network) return { key: 'error.network', params: {} };
  if (err.status === 401) return { key: 'signin.wrong', params: {} };
  if (err.status === 403) return { key: 'signin.disabled', params: {} };
  if (err.status === 429) return { key: err.retryAfter != null ? 'signin.tooMany' : 'signin.tooManyNoWait', params: { seconds: err.retryAfter } };
  return { key: 'error.generic', params: { message: err.message } };
}
