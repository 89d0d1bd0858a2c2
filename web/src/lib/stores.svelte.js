// Shared reactive state: who is signed in, the model catalog with load progress, collections.
import { fetchModels, fetchHealth, mergeHealth, anyLoading, findModel } from './models.js';
import { api } from './api.js';

export const app = $state({
  phase: 'loading', // loading | signin | ready | error
  me: null,
  authLost: false, // a 401 during use: sign-in shown over the app, which stays as it was
  providers: null,
  bootError: null,
  sidebarOpen: true,
});

export function authMode() {
  return app.me?.auth_mode ?? 'session';
}

class ModelStore {
  list = $state([]);
  error = $state(null);
  loaded = $state(false);
  #timer = 0;
  #watchers = 0;

  async refresh() {
    try {
      const list = await fetchModels();
      this.list = list;
      this.error = null;
      this.loaded = true;
      if (anyLoading(list)) this.#poll();
    } catch (err) {
      this.error = err;
      this.loaded = true;
    }
  }

  find(id) {
    return findModel(this.list, id);
  }

  // Poll /health every second while a model loads or someone watches (a request in flight on a
  // model that was not ready).
  #poll() {
    if (this.#timer) return;
    const tick = async () => {
      try {
        const h = await fetchHealth();
        this.list = mergeHealth(this.list, h);
      } catch {
        /* the next tick tries again */
      }
      if (anyLoading(this.list) || this.#watchers > 0) this.#timer = setTimeout(tick, 1000);
      else this.#timer = 0;
    };
    this.#timer = setTimeout(tick, 0);
  }

  watch() {
    this.#watchers++;
    this.#poll();
    let done = false;
    return () => {
      if (!done) {
        done = true;
        this.#watchers--;
      }
    };
  }

  // Resolves when the model is no longer loading (ready, failed or unloaded again).
  waitUntilLoaded(id, signal) {
    const stop = this.watch();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (signal?.aborted) {
          stop();
          reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
          return;
        }
        const m = this.find(id);
        if (!m || m.state !== 'loading') {
          stop();
          resolve(m);
        } else setTimeout(check, 250);
      };
      check();
    });
  }
}

export const models = new ModelStore();

class CollectionStore {
  list = $state([]);
  available = $state(true);
  loaded = $state(false);

  async refresh() {
    try {
      const r = await api.get('/v1/knowledge/collections');
      this.list = r?.data ?? (Array.isArray(r) ? r : []);
      this.available = true;
    } catch (err) {
      this.list = [];
      this.available = !(err.status === 404 || err.status === 403);
    }
    this.loaded = true;
  }
}

export const collections = new CollectionStore();

// Remembered choices for new chats.
export const prefs = {
  get model() {
    return read('hearth.model');
  },
  set model(v) {
    write('hearth.model', v);
  },
};

function read(k) {
  try {
    return localStorage.getItem(k) ?? '';
  } catch {
    return '';
  }
}
function write(k, v) {
  try {
    if (v) localStorage.setItem(k, v);
    else localStorage.removeItem(k);
  } catch {
    /* ignore */
  }
}
