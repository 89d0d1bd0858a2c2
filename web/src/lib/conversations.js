// Client for the per-user Conversations API (OpenAI Conversations shapes, stored by Hearth).
import { api, enc, query } from './api.js';

const base = '/v1/conversations';

export const conversations = {
  list: ({ limit = 30, after, q, signal } = {}) => api.get(`${base}${query({ limit, after, q })}`, { signal }),
  create: (metadata, items = []) => api.post(base, { metadata, items }),
  get: (id) => api.get(`${base}/${enc(id)}`),
  update: (id, metadata) => api.post(`${base}/${enc(id)}`, { metadata }),
  remove: (id) => api.del(`${base}/${enc(id)}`),
  // order 'desc' = newest first (the page shown first); 'asc' = oldest first.
  items: (id, { limit = 100, after, order = 'desc', signal } = {}) =>
    api.get(`${base}/${enc(id)}/items${query({ limit, after, order })}`, { signal }),
  addItems: (id, items) => api.post(`${base}/${enc(id)}/items`, { items }),
  removeItem: (id, itemId, andAfter = false) =>
    api.del(`${base}/${enc(id)}/items/${enc(itemId)}${andAfter ? '?and_after=true' : ''}`),
  export: (id) => api.get(`${base}/${enc(id)}/export`),
  import: (data) => api.post(`${base}/import`, data),
};

export function conversationTitle(c, fallback = '') {
  return (c?.metadata?.title || '').trim() || fallback;
}

// Keeps a list newest-updated first with no duplicates (after an update or create).
export function upsertConversation(list, conv) {
  const rest = list.filter((c) => c.id !== conv.id);
  return [conv, ...rest].sort((a, b) => (b.updated_at ?? 0) - (a.updated_at ?? 0));
}

export function downloadJson(filename, data) {
  const blob = new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename.replace(/[\\/:*?"<>|]+/g, '_').slice(0, 80) || 'conversation.json';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
