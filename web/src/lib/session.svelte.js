// One open chat: its messages, the streaming answer, and saving to the Conversations API.
// Streaming chunks are folded into a non-reactive buffer and published once per animation frame,
// so only the streaming message re-renders, at most once a frame.
import {
  makeMessage, startAssistant, applyChunk, finishMessage, planRegenerate, planEdit, replaceMessage,
  titleFromText, messageToItem, itemsToMessages, settingsFromMetadata, metadataFrom, chatRequest,
} from './flow.js';
import { conversations } from './conversations.js';
import { streamChat, isAbort, ApiError } from './api.js';
import { models, prefs } from './stores.svelte.js';
import { isRetryable } from './errors.js';

const PAGE = 100;
const DRAFT_KEY = 'hearth.draft';

const raf = typeof requestAnimationFrame === 'function' ? requestAnimationFrame : (f) => setTimeout(f, 16);
const caf = typeof cancelAnimationFrame === 'function' ? cancelAnimationFrame : clearTimeout;

function emptySettings() {
  return { system_prompt: '', temperature: '', max_tokens: '', model: prefs.model, collections: [] };
}

// Saving runs in order, per conversation, off the streaming path.
function makeHandle(convId) {
  return { convId, chain: Promise.resolve(), ids: new Map(), cursor: null, closed: false };
}

export class ChatSession {
  conv = $state(null);
  messages = $state.raw([]);
  settings = $state(emptySettings());
  streamingKey = $state(null);
  error = $state(null); // {err: ApiError, retry: bool}
  saveError = $state(null);
  loading = $state(false);
  hasOlder = $state(false);
  draft = $state(readDraft());

  #handle = makeHandle(null);
  #abort = null;
  #current = null;
  #frame = 0;
  #loadGen = 0;
  #onChange;

  constructor({ onConversationChange } = {}) {
    this.#onChange = onConversationChange ?? (() => {});
  }

  get streaming() {
    return this.streamingKey !== null;
  }

  saveDraft() {
    try {
      sessionStorage.setItem(DRAFT_KEY, this.draft);
    } catch {
      /* ignore */
    }
  }

  // --- opening -----------------------------------------------------------------------------

  newChat() {
    this.stop();
    this.#handle.closed = true;
    this.#handle = makeHandle(null);
    this.#loadGen++;
    this.conv = null;
    this.messages = [];
    this.settings = emptySettings();
    this.error = null;
    this.saveError = null;
    this.hasOlder = false;
    this.loading = false;
  }

  async open(id) {
    if (this.conv?.id === id) return;
    this.newChat();
    const h = makeHandle(id);
    this.#handle = h;
    const gen = ++this.#loadGen;
    this.conv = { id, metadata: {} };
    this.loading = true;
    try {
      const [conv, page] = await Promise.all([conversations.get(id), conversations.items(id, { limit: PAGE, order: 'desc' })]);
      if (gen !== this.#loadGen) return;
      this.conv = conv;
      this.settings = { ...emptySettings(), ...settingsFromMetadata(conv.metadata) };
      if (!this.settings.model) this.settings.model = prefs.model;
      const msgs = itemsToMessages([...(page?.data ?? [])].reverse());
      for (const m of msgs) if (m.id) h.ids.set(m.key, m.id);
      this.messages = msgs;
      h.cursor = page?.last_id ?? null;
      this.hasOlder = !!page?.has_more && !!h.cursor;
    } catch (err) {
      if (gen !== this.#loadGen) return;
      this.error = { err, retry: false };
    } finally {
      if (gen === this.#loadGen) this.loading = false;
    }
    // Older pages come in the background, newest first, keeping the view where it is.
    while (this.hasOlder && gen === this.#loadGen) {
      if (!(await this.loadOlder())) break;
    }
  }

  #olderPromise = null;
  loadOlder() {
    if (this.#olderPromise) return this.#olderPromise;
    const h = this.#handle;
    const gen = this.#loadGen;
    if (!this.hasOlder || !h.convId) return Promise.resolve(false);
    this.#olderPromise = (async () => {
      try {
        const page = await conversations.items(h.convId, { limit: PAGE, after: h.cursor, order: 'desc' });
        if (gen !== this.#loadGen) return false;
        const older = itemsToMessages([...(page?.data ?? [])].reverse());
        for (const m of older) if (m.id) h.ids.set(m.key, m.id);
        const known = new Set(this.messages.map((m) => m.key));
        this.messages = [...older.filter((m) => !known.has(m.key)), ...this.messages];
        h.cursor = page?.last_id ?? null;
        this.hasOlder = !!page?.has_more && !!h.cursor;
        return true;
      } catch (err) {
        if (gen === this.#loadGen) this.error = { err, retry: false };
        return false;
      } finally {
        this.#olderPromise = null;
      }
    })();
    return this.#olderPromise;
  }

  async #loadAll() {
    while (this.hasOlder) if (!(await this.loadOlder())) break;
  }

  // --- saving ------------------------------------------------------------------------------

  // An operation refused because the session ended (401) waits for the next sign-in and runs
  // again, so nothing is lost or left behind (and later operations keep their order).
  #queue(fn, h = this.#handle) {
    h.chain = h.chain
      .then(async () => {
        for (let attempt = 0; ; attempt++) {
          try {
            return await fn(h);
          } catch (err) {
            if (err?.status !== 401 || attempt >= 2) throw err;
            await this.#signedInAgain();
          }
        }
      })
      .catch((err) => {
        if (h === this.#handle) this.saveError = err;
      });
    return h.chain;
  }

  #auth = null;
  #signedInAgain() {
    if (!this.#auth) {
      let resolve;
      const promise = new Promise((r) => (resolve = r));
      this.#auth = { promise, resolve };
    }
    return this.#auth.promise;
  }

  // Called after a successful sign-in: saving that waited for it goes on.
  resumeAfterSignIn() {
    const a = this.#auth;
    this.#auth = null;
    a?.resolve();
  }

  async #ensureConversation(h, title) {
    if (h.convId) return h.convId;
    const conv = await conversations.create(metadataFrom(title, this.settings), []);
    h.convId = conv.id;
    if (h === this.#handle) this.conv = conv;
    this.#onChange(conv, { created: true, current: h === this.#handle });
    return conv.id;
  }

  #saveMessage(msg, title, handle = this.#handle) {
    this.#queue(async (h) => {
      const id = await this.#ensureConversation(h, title);
      const r = await conversations.addItems(id, [messageToItem(msg)]);
      const saved = r?.data?.[0];
      if (saved?.id) h.ids.set(msg.key, saved.id);
      if (msg.role === 'assistant' && h === this.#handle && this.conv) {
        const conv = { ...this.conv, updated_at: Math.floor(Date.now() / 1000) };
        this.conv = conv;
        this.#onChange(conv, {});
      }
    }, handle);
  }

  #deleteMessage(msg, andAfter) {
    this.#queue(async (h) => {
      const id = h.ids.get(msg.key);
      if (!id || !h.convId) return;
      await conversations.removeItem(h.convId, id, andAfter);
      h.ids.delete(msg.key);
    });
  }

  updateSettings(next) {
    this.settings = { ...this.settings, ...next };
    if (next.model) prefs.model = next.model;
    if (!this.#handle.convId) return;
    const md = { ...(this.conv?.metadata ?? {}) };
    for (const k of ['system_prompt', 'temperature', 'max_tokens', 'model', 'collections']) delete md[k];
    Object.assign(md, metadataFrom(this.conv?.metadata?.title ?? '', this.settings));
    this.#queue(async (h) => {
      const conv = await conversations.update(h.convId, md);
      if (h === this.#handle && conv) this.conv = conv;
    });
  }

  renamed(conv) {
    if (this.conv?.id === conv.id) this.conv = { ...this.conv, metadata: conv.metadata };
  }

  // --- chatting ----------------------------------------------------------------------------

  async send(text) {
    const content = String(text ?? '');
    if (!content.trim() || this.streaming) return false;
    await this.#loadAll();
    const user = makeMessage('user', content);
    this.messages = [...this.messages, user];
    this.error = null;
    this.#saveMessage(user, titleFromText(content));
    await this.#generate();
    return true;
  }

  async regenerate() {
    if (this.streaming) return;
    const { messages, remove } = planRegenerate(this.messages);
    if (!messages.length || messages[messages.length - 1].role !== 'user') return;
    this.messages = messages;
    if (remove) this.#deleteMessage(remove, false);
    this.error = null;
    await this.#generate();
  }

  retry() {
    return this.regenerate();
  }

  async editResend(index, text) {
    if (this.streaming || !String(text ?? '').trim()) return;
    const { messages, remove, user } = planEdit(this.messages, index, text);
    this.messages = messages;
    this.error = null;
    this.#deleteMessage(remove, true);
    this.#saveMessage(user, titleFromText(text));
    await this.#generate();
  }

  stop() {
    this.#abort?.abort();
  }

  #publish = () => {
    this.#frame = 0;
    if (this.#current) this.messages = replaceMessage(this.messages, this.#current.key, this.#current);
  };

  async #generate() {
    const model = this.settings.model || models.list.find((m) => m.state === 'ready')?.id || models.list[0]?.id || '';
    const history = this.messages;
    const msg = startAssistant(model, performance.now());
    this.#current = msg;
    this.messages = [...history, msg];
    this.streamingKey = msg.key;
    const ac = new AbortController();
    this.#abort = ac;
    const handle = this.#handle;
    let stopWatching = null;
    let result = null;
    let error = null;
    try {
      const entry = models.find(model);
      if (entry && entry.state !== 'ready') {
        stopWatching = models.watch();
        if (entry.state === 'loading') await models.waitUntilLoaded(entry.id, ac.signal);
      }
      const body = chatRequest({ model, messages: history, settings: this.settings, collections: this.settings.collections });
      result = await streamChat(body, {
        signal: ac.signal,
        onChunk: (chunk) => {
          this.#current = applyChunk(this.#current, chunk, performance.now());
          if (stopWatching && this.#current.meta.firstTokenAt != null) {
            stopWatching();
            stopWatching = null;
          }
          if (!this.#frame) this.#frame = raf(this.#publish);
        },
      });
    } catch (err) {
      error = err;
    } finally {
      stopWatching?.();
      if (this.#frame) caf(this.#frame);
      this.#frame = 0;
      this.#abort = null;
    }
    const aborted = ac.signal.aborted || isAbort(error);
    if (!aborted && !error && result && !result.done) error = new ApiError({ network: true, message: 'connection closed' });
    const status = aborted || error ? 'incomplete' : 'completed';
    const final = finishMessage(this.#current, { status, error: aborted ? null : error?.message });
    this.#current = null;
    const empty = !final.content && !final.reasoning;
    if (handle === this.#handle) {
      this.messages = empty ? this.messages.filter((m) => m.key !== final.key) : replaceMessage(this.messages, final.key, final);
      this.streamingKey = null;
      if (error && !aborted) this.error = { err: error, retry: isRetryable(error) };
    }
    if (!empty) {
      // Saved even when stopped or cut off (status "incomplete").
      this.#saveMessage(final, titleFromText(history.find((m) => m.role === 'user')?.content ?? ''), handle);
    }
    if (model) prefs.model = this.settings.model || model;
  }
}

function readDraft() {
  try {
    return sessionStorage.getItem(DRAFT_KEY) ?? '';
  } catch {
    return '';
  }
}
