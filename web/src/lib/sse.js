// Server-Sent Events parsing for fetch() bodies (no EventSource: it cannot POST).
// Pure: feed it bytes (or strings) split anywhere, it calls onEvent for each complete event.
// Follows the WHATWG event-stream rules: lines end in CRLF, LF or CR; ':' lines are comments;
// 'data' lines are joined with '\n'; a blank line dispatches; a leading BOM is dropped.

export function createSSEParser(onEvent) {
  const decoder = new TextDecoder('utf-8');
  let buf = '';
  let data = [];
  let event = '';
  let id = '';
  let first = true;

  function dispatch() {
    if (data.length) onEvent({ event: event || 'message', data: data.join('\n'), id });
    data = [];
    event = '';
  }

  function line(l) {
    if (l === '') return dispatch();
    if (l[0] === ':') return; // comment / keep-alive
    const c = l.indexOf(':');
    let field = l;
    let value = '';
    if (c >= 0) {
      field = l.slice(0, c);
      value = l.slice(c + 1);
      if (value[0] === ' ') value = value.slice(1);
    }
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
    else if (field === 'id') id = value;
    // 'retry' and unknown fields are ignored
  }

  function drain(final) {
    let start = 0;
    for (let i = 0; i < buf.length; i++) {
      const ch = buf.charCodeAt(i);
      if (ch === 10 || ch === 13) {
        // A CR at the very end may be the first half of a CRLF split across chunks.
        if (ch === 13 && i === buf.length - 1 && !final) break;
        line(buf.slice(start, i));
        if (ch === 13 && buf.charCodeAt(i + 1) === 10) i++;
        start = i + 1;
      }
    }
    buf = buf.slice(start);
  }

  return {
    feed(chunk) {
      let s = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
      if (first && s.length) {
        if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
        first = false;
      }
      buf += s;
      drain(false);
    },
    end() {
      buf += decoder.decode();
      drain(true);
      if (buf.length) {
        // A line cut off by the end of the stream: its event is incomplete, drop it.
        buf = '';
        data = [];
        event = '';
        return;
      }
      dispatch(); // lenient: a last event whose lines ended but without the blank line counts
    },
  };
}

// Reads an SSE body and yields parsed JSON payloads; stops at [DONE].
// Yields {done:true} at [DONE]; malformed JSON throws.
export async function* readSSEJson(body, signal) {
  const reader = body.getReader();
  const queue = [];
  const parser = createSSEParser((e) => queue.push(e));
  let finished = false;
  try {
    while (!finished) {
      const { value, done } = await reader.read();
      if (done) parser.end();
      else parser.feed(value);
      while (queue.length) {
        const e = queue.shift();
        const d = e.data.trim();
        if (d === '[DONE]') {
          finished = true;
          yield { done: true };
          break;
        }
        if (!d) continue;
        yield JSON.parse(d);
      }
      if (done) break;
      if (signal?.aborted) break;
    }
  } finally {
    try {
      await reader.cancel();
    } catch {
      /* already closed */
    }
  }
}
