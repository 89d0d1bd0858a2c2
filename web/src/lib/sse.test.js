import { describe, it, expect } from 'vitest';
import { createSSEParser, readSSEJson } from './sse.js';

const enc = new TextEncoder();

function collect(chunks) {
  const events = [];
  const p = createSSEParser((e) => events.push(e));
  for (const c of chunks) p.feed(c);
  p.end();
  return events;
}

// Every way to cut the bytes in two (and into single bytes) gives the same events.
function splits(bytes) {
  const out = [[bytes], [...bytes].map((b) => Uint8Array.of(b))];
  for (let i = 1; i < bytes.length; i++) out.push([bytes.slice(0, i), bytes.slice(i)]);
  return out;
}

describe('SSE parser', () => {
  it('parses data events, joins multi-line data, ignores comments', () => {
    const ev = collect(['data: {"a":1}\n\n: keep-alive\n\ndata: x\ndata: y\n\n']);
    expect(ev.map((e) => e.data)).toEqual(['{"a":1}', 'x\ny']);
  });

  it('handles CRLF and CR line endings, also split between \\r and \\n', () => {
    expect(collect(['data: a\r\n\r\ndata: b\r\rdata: c\n\n']).map((e) => e.data)).toEqual(['a', 'b', 'c']);
    expect(collect(['data: a\r', '\n\r', '\ndata: b\r\n', '\r\n']).map((e) => e.data)).toEqual(['a', 'b']);
  });

  it('keeps Chinese text intact when chunks split inside a UTF-8 character', () => {
    const text = 'data: {"delta":"你好，世界🌍！锅炉压力"}\n\ndata: [DONE]\n\n';
    const bytes = enc.encode(text);
    for (const parts of splits(bytes)) {
      const ev = collect(parts);
      expect(ev.map((e) => e.data)).toEqual(['{"delta":"你好，世界🌍！锅炉压力"}', '[DONE]']);
    }
  });

  it('reads the event and id fields and strips one leading space only', () => {
    const ev = collect(['event: ping\nid: 7\ndata:  two spaces\n\n']);
    expect(ev).toEqual([{ event: 'ping', id: '7', data: ' two spaces' }]);
  });

  it('drops a leading BOM; a last event without its blank line counts, a cut-off line does not', () => {
    expect(collect(['\ufeffdata: 1\n\ndata: 2\n']).map((e) => e.data)).toEqual(['1', '2']);
    expect(collect(['data: 1\n\ndata: {"cut']).map((e) => e.data)).toEqual(['1']);
  });

  it('ignores blank lines between events and empty data', () => {
    expect(collect(['\n\n\ndata: a\n\n\n\n']).map((e) => e.data)).toEqual(['a']);
  });
});

function bodyOf(parts) {
  return new ReadableStream({
    start(c) {
      for (const p of parts) c.enqueue(typeof p === 'string' ? enc.encode(p) : p);
      c.close();
    },
  });
}

describe('readSSEJson', () => {
  it('yields parsed chunks and stops at [DONE]', async () => {
    const text = 'data: {"choices":[{"delta":{"content":"你"}}]}\n\n: c\n\ndata: {"choices":[{"delta":{"content":"好"}}]}\n\ndata: [DONE]\n\ndata: {"never":1}\n\n';
    const bytes = enc.encode(text);
    const out = [];
    for await (const ev of readSSEJson(bodyOf([bytes.slice(0, 37), bytes.slice(37, 38), bytes.slice(38)]))) out.push(ev);
    expect(out).toEqual([{ choices: [{ delta: { content: '你' } }] }, { choices: [{ delta: { content: '好' } }] }, { done: true }]);
  });

  it('ends without {done} when the stream closes early', async () => {
    const out = [];
    for await (const ev of readSSEJson(bodyOf(['data: {"a":1}\n\ndata: {"b"']))) out.push(ev);
    expect(out).toEqual([{ a: 1 }]);
  });
});
