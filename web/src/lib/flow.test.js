import { describe, it, expect } from 'vitest';
import {
  makeMessage, startAssistant, applyChunk, finishMessage, planRegenerate, planEdit, toRequestMessages,
  titleFromText, messageToItem, itemToMessage, itemsToMessages, settingsFromMetadata, metadataFrom, chatRequest,
  thinkingMs, hearthOf, replaceMessage,
} from './flow.js';

const delta = (d, extra = {}) => ({ choices: [{ index: 0, delta: d, finish_reason: null }], ...extra });

describe('streaming an answer', () => {
  it('folds content, reasoning, citations, usage and timings', () => {
    let m = startAssistant('qwen', 1000);
    m = applyChunk(m, delta({ role: 'assistant', content: '' }, { citations: [{ index: 1, title: 'Boilers' }] }), 1010);
    m = applyChunk(m, delta({ reasoning_content: '想一想' }), 1100);
    m = applyChunk(m, delta({ reasoning_content: '…' }), 1600);
    m = applyChunk(m, delta({ content: '打开' }), 1700);
    m = applyChunk(m, delta({ content: '泄压阀 [1]' }), 1900);
    m = applyChunk(m, { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }, 1950);
    m = applyChunk(m, { choices: [], usage: { prompt_tokens: 30, completion_tokens: 16 }, timings: { predicted_ms: 800 } }, 1960);
    expect(m.content).toBe('打开泄压阀 [1]');
    expect(m.reasoning).toBe('想一想…');
    expect(m.meta.citations).toHaveLength(1);
    expect(m.meta.finish_reason).toBe('stop');
    expect(m.meta.usage.completion_tokens).toBe(16);
    const done = finishMessage(m);
    expect(done.status).toBe('completed');
    expect(done.meta.reasoning_ms).toBe(500); // first to last reasoning delta
    expect(done.meta.ttft_ms).toBe(100); // request start to the first token (reasoning counts)
    expect(done.meta.measured_ms).toBe(800);
    expect(thinkingMs(done)).toBe(500);
  });

  it('returns new objects and leaves the old message alone', () => {
    const a = startAssistant('m', 0);
    const b = applyChunk(a, delta({ content: 'x' }), 1);
    expect(a.content).toBe('');
    expect(b).not.toBe(a);
    expect(applyChunk(a, null, 1)).toBe(a);
  });

  it('a stopped or cut-off answer is incomplete, keeping what arrived', () => {
    let m = applyChunk(startAssistant('m', 0), delta({ content: 'half an ans' }), 5);
    const stopped = finishMessage(m, { status: 'incomplete' });
    expect(stopped.status).toBe('incomplete');
    expect(stopped.content).toBe('half an ans');
    expect(stopped.meta.finish_reason).toBe('cancelled');
    const dropped = finishMessage(m, { status: 'incomplete', error: 'network error' });
    expect(dropped.meta.finish_reason).toBe('error');
    expect(dropped.error).toBe('network error');
    expect(messageToItem(dropped).status).toBe('incomplete');
  });
});

describe('regenerate and edit', () => {
  const conv = () => {
    const u1 = makeMessage('user', 'q1');
    const a1 = makeMessage('assistant', 'a1');
    const u2 = makeMessage('user', 'q2');
    const a2 = makeMessage('assistant', 'a2');
    return [u1, a1, u2, a2];
  };

  it('regenerate drops the last answer only', () => {
    const msgs = conv();
    const { messages, remove } = planRegenerate(msgs);
    expect(messages.map((m) => m.content)).toEqual(['q1', 'a1', 'q2']);
    expect(remove).toBe(msgs[3]);
  });

  it('regenerate after a failed send (last is the question) drops nothing', () => {
    const msgs = conv().slice(0, 3);
    const r = planRegenerate(msgs);
    expect(r.messages).toBe(msgs);
    expect(r.remove).toBeNull();
    expect(planRegenerate([]).remove).toBeNull();
  });

  it('edit drops the edited message and everything after it', () => {
    const msgs = conv();
    const { messages, remove, user } = planEdit(msgs, 2, 'q2 edited');
    expect(messages.map((m) => m.content)).toEqual(['q1', 'a1', 'q2 edited']);
    expect(remove).toBe(msgs[2]);
    expect(user.role).toBe('user');
    expect(user.key).not.toBe(msgs[2].key);
    const first = planEdit(msgs, 0, 'new start');
    expect(first.messages.map((m) => m.content)).toEqual(['new start']);
    expect(() => planEdit(msgs, 9, 'x')).toThrow(RangeError);
  });

  it('replaceMessage swaps one message by key', () => {
    const msgs = conv();
    const x = { ...msgs[1], content: 'A1' };
    const out = replaceMessage(msgs, msgs[1].key, x);
    expect(out[1]).toBe(x);
    expect(out[0]).toBe(msgs[0]);
    expect(replaceMessage(msgs, 'nope', x)).toBe(msgs);
  });
});

describe('requests and items', () => {
  it('builds the chat request from settings', () => {
    const msgs = [makeMessage('user', 'hi'), makeMessage('assistant', ''), makeMessage('assistant', 'yo'), makeMessage('user', 'again')];
    const body = chatRequest({ model: 'qwen', messages: msgs, settings: { system_prompt: 'Be brief', temperature: '0.2', max_tokens: '256' }, collections: ['manuals'] });
    expect(body).toEqual({
      model: 'qwen',
      messages: [{ role: 'system', content: 'Be brief' }, { role: 'user', content: 'hi' }, { role: 'assistant', content: 'yo' }, { role: 'user', content: 'again' }],
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0.2,
      max_tokens: 256,
      knowledge: { collections: ['manuals'] },
    });
    const plain = chatRequest({ model: '', messages: msgs.slice(0, 1), settings: { system_prompt: '', temperature: '', max_tokens: 'abc' } });
    expect(plain).toEqual({ messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } });
    expect(toRequestMessages([], '  ')).toEqual([]);
  });

  it('titles are the first ~40 characters', () => {
    expect(titleFromText('  hello\n\nworld  ')).toBe('hello world');
    expect(titleFromText('锅'.repeat(50))).toBe('锅'.repeat(40) + '…');
    expect(Array.from(titleFromText('😀'.repeat(45))).length).toBe(41);
  });

  it('messages round-trip through items', () => {
    let a = applyChunk(startAssistant('qwen', 0), delta({ reasoning_content: 'r', content: 'answer' }, { citations: [{ index: 1, text: 't' }] }), 10);
    a = finishMessage(applyChunk(a, { choices: [], usage: { prompt_tokens: 1, completion_tokens: 2 } }, 20));
    const item = messageToItem(a);
    expect(item).toMatchObject({ type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'answer' }] });
    expect(item.hearth).toMatchObject({ model: 'qwen', reasoning_content: 'r', usage: { completion_tokens: 2 }, citations: [{ index: 1 }], ttft_ms: 10 });
    const back = itemToMessage({ ...item, id: 'msg_1', created_at: 5 });
    expect(back).toMatchObject({ id: 'msg_1', key: 'i_msg_1', role: 'assistant', content: 'answer', reasoning: 'r', status: 'completed' });
    expect(back.meta.citations).toHaveLength(1);
    const u = messageToItem(makeMessage('user', '你好'));
    expect(u).toEqual({ type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_text', text: '你好' }] });
  });

  it('skips non-message items and joins content parts', () => {
    const msgs = itemsToMessages([
      { type: 'message', id: 'a', role: 'user', content: [{ type: 'input_text', text: 'x' }, { type: 'input_text', text: 'y' }] },
      { type: 'function_call', id: 'b' },
      { type: 'message', id: 'c', role: 'assistant', status: 'incomplete', content: [{ type: 'output_text', text: 'z' }] },
    ]);
    expect(msgs.map((m) => [m.role, m.content, m.status])).toEqual([['user', 'xy', 'completed'], ['assistant', 'z', 'incomplete']]);
  });

  it('keeps the hearth object under 256 KB', () => {
    const big = 'x'.repeat(40000);
    const m = { ...makeMessage('assistant', 'a'), meta: { citations: Array.from({ length: 10 }, (_, i) => ({ index: i + 1, text: big })) } };
    const h = hearthOf(m);
    expect(new TextEncoder().encode(JSON.stringify(h)).length).toBeLessThanOrEqual(256 * 1024);
    expect(h.citations).toHaveLength(10);
  });

  it('settings live in metadata as strings', () => {
    const md = metadataFrom('T', { system_prompt: 'S', temperature: '0.7', max_tokens: '100', model: 'm', collections: ['a', 'b'] });
    expect(md).toEqual({ title: 'T', system_prompt: 'S', temperature: '0.7', max_tokens: '100', model: 'm', collections: 'a,b' });
    expect(Object.values(md).every((v) => typeof v === 'string')).toBe(true);
    expect(settingsFromMetadata(md)).toEqual({ system_prompt: 'S', temperature: '0.7', max_tokens: '100', model: 'm', collections: ['a', 'b'] });
    expect(settingsFromMetadata({ temperature: 'x' }).temperature).toBe('');
    expect(metadataFrom('T', { system_prompt: '', temperature: '', max_tokens: '', model: '', collections: [] })).toEqual({ title: 'T' });
  });
});
