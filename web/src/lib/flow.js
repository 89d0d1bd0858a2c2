// The conversation's messages as plain immutable data, and the pure steps of the chat flow:
// streaming chunks into an answer, finishing it, regenerate / edit truncation, and the mapping
// to and from Conversations API items. No I/O here (see session.svelte.js for that).

let seq = 0;
export function newKey() {
  seq = (seq + 1) % 1e9;
  return `k${Date.now().toString(36)}${seq.toString(36)}`;
}

export function makeMessage(role, content, extra = {}) {
  return { key: newKey(), id: null, role, content: content ?? '', reasoning: '', status: 'completed', meta: {}, ...extra };
}

export function startAssistant(model, now) {
  return makeMessage('assistant', '', { status: 'streaming', meta: { model, startedAt: now } });
}

// Folds one chat.completion.chunk into the streaming message; returns a new message object.
export function applyChunk(msg, chunk, now) {
  if (!chunk || typeof chunk !== 'object') return msg;
  const meta = { ...msg.meta };
  let { content, reasoning } = msg;
  if (Array.isArray(chunk.citations)) meta.citations = chunk.citations;
  if (chunk.model) meta.model = chunk.model;
  const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : null;
  const delta = choice?.delta ?? choice?.message ?? {};
  if (typeof delta.reasoning_content === 'string' && delta.reasoning_content) {
    reasoning += delta.reasoning_content;
    meta.reasoningStart ??= now;
    meta.reasoningEnd = now;
    meta.firstTokenAt ??= now;
    meta.lastTokenAt = now;
  }
  if (typeof delta.content === 'string' && delta.content) {
    content += delta.content;
    meta.firstTokenAt ??= now;
    meta.firstContentAt ??= now;
    meta.lastTokenAt = now;
  }
  if (choice?.finish_reason) meta.finish_reason = choice.finish_reason;
  if (chunk.usage) meta.usage = chunk.usage;
  if (chunk.timings) meta.timings = chunk.timings;
  return { ...msg, content, reasoning, meta };
}

// Ends the streaming message. status: 'completed' | 'incomplete'.
export function finishMessage(msg, { status = 'completed', error = null } = {}) {
  const m = msg.meta;
  const meta = { ...m };
  if (m.reasoningStart != null) meta.reasoning_ms = Math.max(0, m.reasoningEnd - m.reasoningStart);
  if (m.firstTokenAt != null && m.startedAt != null) meta.ttft_ms = Math.max(0, m.firstTokenAt - m.startedAt);
  if (m.firstTokenAt != null && m.lastTokenAt != null) meta.measured_ms = Math.max(0, m.lastTokenAt - m.firstTokenAt);
  if (status === 'incomplete' && !meta.finish_reason) meta.finish_reason = error ? 'error' : 'cancelled';
  return { ...msg, status, meta, error: error ?? null };
}

// Thinking duration, from the first to the last reasoning delta (or the stored value).
export function thinkingMs(msg) {
  const m = msg?.meta ?? {};
  if (m.reasoning_ms != null) return m.reasoning_ms;
  if (m.reasoningStart != null) return Math.max(0, (m.reasoningEnd ?? m.reasoningStart) - m.reasoningStart);
  return null;
}

// The request's messages: the system prompt, then every message with text.
export function toRequestMessages(messages, systemPrompt) {
  const out = [];
  if (systemPrompt && systemPrompt.trim()) out.push({ role: 'system', content: systemPrompt });
  for (const m of messages) {
    if (m.role === 'assistant' && !m.content) continue;
    if (m.role !== 'user' && m.role !== 'assistant' && m.role !== 'system') continue;
    out.push({ role: m.role, content: m.content });
  }
  return out;
}

// Regenerate: drop the last answer (if the last message is one). Returns the kept messages and
// the message to delete on the server (null when nothing is dropped).
export function planRegenerate(messages) {
  const last = messages[messages.length - 1];
  if (!last) return { messages, remove: null };
  if (last.role === 'assistant') return { messages: messages.slice(0, -1), remove: last };
  return { messages, remove: null };
}

// Edit a user message and resend: everything from it on goes; a new user message takes its
// place. Returns {messages, remove (the edited message: delete it with and_after), user}.
export function planEdit(messages, index, text) {
  if (index < 0 || index >= messages.length) throw new RangeError('no such message');
  const user = makeMessage('user', text);
  return { messages: [...messages.slice(0, index), user], remove: messages[index], user };
}

export function replaceMessage(list, key, msg) {
  const i = list.findIndex((m) => m.key === key);
  if (i < 0) return list;
  const out = list.slice();
  out[i] = msg;
  return out;
}

export function titleFromText(text, max = 40) {
  const s = String(text ?? '').replace(/\s+/g, ' ').trim();
  const chars = Array.from(s);
  return chars.length > max ? chars.slice(0, max).join('').trimEnd() + '…' : s;
}

const HEARTH_MAX = 256 * 1024;

// The item's "hearth" extension object: what the UI needs to show an answer again later.
export function hearthOf(msg) {
  const m = msg.meta ?? {};
  const h = {};
  if (m.model) h.model = m.model;
  if (msg.reasoning) h.reasoning_content = msg.reasoning;
  if (m.reasoning_ms != null) h.reasoning_ms = Math.round(m.reasoning_ms);
  if (m.usage) h.usage = m.usage;
  if (m.timings) h.timings = m.timings;
  if (m.citations?.length) h.citations = m.citations;
  if (m.finish_reason) h.finish_reason = m.finish_reason;
  if (m.ttft_ms != null) h.ttft_ms = Math.round(m.ttft_ms);
  if (m.measured_ms != null) h.measured_ms = Math.round(m.measured_ms);
  const size = (o) => new TextEncoder().encode(JSON.stringify(o)).length;
  if (size(h) > HEARTH_MAX && h.citations) h.citations = h.citations.map(({ text, ...c }) => ({ ...c, text: String(text ?? '').slice(0, 500) }));
  if (size(h) > HEARTH_MAX && h.reasoning_content) h.reasoning_content = h.reasoning_content.slice(0, 100000);
  if (size(h) > HEARTH_MAX) delete h.citations;
  return h;
}

export function messageToItem(msg) {
  const item = {
    type: 'message',
    role: msg.role,
    status: msg.status === 'incomplete' ? 'incomplete' : 'completed',
    content: [{ type: msg.role === 'assistant' ? 'output_text' : 'input_text', text: msg.content }],
  };
  if (msg.role === 'assistant') {
    const h = hearthOf(msg);
    if (Object.keys(h).length) item.hearth = h;
  }
  return item;
}

export function itemText(item) {
  if (typeof item.content === 'string') return item.content;
  if (!Array.isArray(item.content)) return '';
  return item.content.map((p) => (typeof p === 'string' ? p : p?.text ?? '')).join('');
}

export function itemToMessage(item) {
  const h = item.hearth && typeof item.hearth === 'object' ? item.hearth : {};
  return {
    key: item.id ? `i_${item.id}` : newKey(),
    id: item.id ?? null,
    role: item.role ?? 'user',
    content: itemText(item),
    reasoning: h.reasoning_content ?? '',
    status: item.status === 'incomplete' ? 'incomplete' : 'completed',
    created_at: item.created_at,
    meta: {
      model: h.model,
      reasoning_ms: h.reasoning_ms,
      usage: h.usage,
      timings: h.timings,
      citations: h.citations,
      finish_reason: h.finish_reason,
      ttft_ms: h.ttft_ms,
      measured_ms: h.measured_ms,
    },
  };
}

// Only message items are shown (other item types from the OpenAI shape are skipped).
export function itemsToMessages(items) {
  return (items ?? []).filter((it) => !it.type || it.type === 'message').map(itemToMessage);
}

// Per-chat settings live in the conversation's metadata as strings.
export function settingsFromMetadata(md = {}) {
  const num = (v) => (v === undefined || v === null || v === '' || Number.isNaN(Number(v)) ? '' : String(v));
  return {
    system_prompt: md.system_prompt ?? '',
    temperature: num(md.temperature),
    max_tokens: num(md.max_tokens),
    model: md.model ?? '',
    collections: md.collections ? String(md.collections).split(',').map((s) => s.trim()).filter(Boolean) : [],
  };
}

export function metadataFrom(title, s) {
  const md = { title: title ?? '' };
  if (s.system_prompt) md.system_prompt = String(s.system_prompt);
  if (s.temperature !== '' && s.temperature != null) md.temperature = String(s.temperature);
  if (s.max_tokens !== '' && s.max_tokens != null) md.max_tokens = String(s.max_tokens);
  if (s.model) md.model = String(s.model);
  if (s.collections?.length) md.collections = s.collections.join(',');
  return md;
}

// The body of a chat request from the settings and the history.
export function chatRequest({ model, messages, settings, collections }) {
  const body = {
    messages: toRequestMessages(messages, settings.system_prompt),
    stream: true,
    stream_options: { include_usage: true },
  };
  if (model) body.model = model;
  const temp = Number(settings.temperature);
  if (settings.temperature !== '' && Number.isFinite(temp)) body.temperature = temp;
  const max = parseInt(settings.max_tokens, 10);
  if (settings.max_tokens !== '' && Number.isInteger(max) && max > 0) body.max_tokens = max;
  if (collections?.length) body.knowledge = { collections: [...collections] };
  return body;
}
