// The model catalog (/v1/models) and load progress (/health).
import { api } from './api.js';

// Hearth reports a loaded model as "loaded"; the app calls it "ready" (a knowledge alias, which
// has no state of its own, is ready too).
export function modelState(s) {
  return s == null || s === 'loaded' ? 'ready' : s;
}

export async function fetchModels() {
  const r = await api.get('/v1/models');
  return (r?.data ?? []).map((m) => ({
    id: m.id,
    state: modelState(m.state),
    aliases: Array.isArray(m.aliases) ? m.aliases : [],
    knowledge: m.knowledge ?? null,
    context_length: m.context_length ?? null,
    owned_by: m.owned_by ?? '',
    downloadable: !!m.downloadable, // a catalog url the server can pull the file from
    file_present: m.file_present ?? true,
    load: null,
  }));
}

export async function fetchHealth() {
  const r = await fetch('/health', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  const body = await r.json().catch(() => null);
  if (!body) throw new Error(`health: HTTP ${r.status}`);
  return body;
}

// Merges /health's per-model state and load into the catalog (by id). Pure.
export function mergeHealth(models, health) {
  const byId = new Map((health?.models ?? []).map((m) => [m.id, m]));
  return models.map((m) => {
    const h = byId.get(m.id);
    return h ? { ...m, state: h.state == null ? m.state : modelState(h.state), load: h.load ?? null } : m;
  });
}

export function isLoading(m) {
  return m?.state === 'loading';
}

export function anyLoading(models) {
  return models.some(isLoading);
}

// A model id or alias -> the catalog entry.
export function findModel(models, id) {
  if (!id) return null;
  return models.find((m) => m.id === id) ?? models.find((m) => m.aliases.includes(id)) ?? null;
}
