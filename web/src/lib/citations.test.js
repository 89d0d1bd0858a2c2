import { describe, it, expect } from 'vitest';
import { matchCitation, citationStart, citationButton, findCitation, highlightSegments } from './citations.js';

describe('citation markers', () => {
  it('matches [n] and lists within range', () => {
    expect(matchCitation('[1] rest', 3)).toEqual({ raw: '[1]', refs: [1] });
    expect(matchCitation('[1, 3]', 3)).toEqual({ raw: '[1, 3]', refs: [1, 3] });
    expect(matchCitation('[2，3]。', 3)).toEqual({ raw: '[2，3]', refs: [2, 3] });
    expect(matchCitation('[1、2]', 2)?.refs).toEqual([1, 2]);
  });
  it('rejects out-of-range, zero, links, definitions and non-numbers', () => {
    expect(matchCitation('[4]', 3)).toBeNull();
    expect(matchCitation('[0]', 3)).toBeNull();
    expect(matchCitation('[1, 9]', 3)).toBeNull();
    expect(matchCitation('[1](http://x)', 3)).toBeNull();
    expect(matchCitation('[1]: http://x', 3)).toBeNull();
    expect(matchCitation('[a]', 3)).toBeNull();
    expect(matchCitation('[1]', 0)).toBeNull();
    expect(matchCitation('x[1]', 3)).toBeNull();
  });
  it('finds where a marker may start', () => {
    expect(citationStart('abc [2] d')).toBe(4);
    expect(citationStart('no markers [x]')).toBeUndefined();
  });
  it('renders an accessible button with an escaped label', () => {
    const b = citationButton(2, 'Source "2" <b>');
    expect(b).toBe('<button type="button" class="cite" data-cite="2" data-testid="citation" aria-label="Source &quot;2&quot; &lt;b&gt;">[2]</button>');
  });
  it('finds a citation by its index field, else by position', () => {
    const cs = [{ index: 2, title: 'B' }, { index: 1, title: 'A' }];
    expect(findCitation(cs, 1).title).toBe('A');
    expect(findCitation([{ title: 'X' }], 1).title).toBe('X');
    expect(findCitation(null, 1)).toBeNull();
  });
  it('splits cited text around query words (for highlighting)', () => {
    expect(highlightSegments('Open the relief valve now', 'relief VALVE?')).toEqual([
      { text: 'Open the ', mark: false },
      { text: 'relief', mark: true },
      { text: ' ', mark: false },
      { text: 'valve', mark: true },
      { text: ' now', mark: false },
    ]);
    expect(highlightSegments('压力超过三巴', '压力')).toEqual([{ text: '压力', mark: true }, { text: '超过三巴', mark: false }]);
    expect(highlightSegments('text', '')).toEqual([{ text: 'text', mark: false }]);
    expect(highlightSegments('a.b', '(.*)')).toEqual([{ text: 'a.b', mark: false }]);
  });
});
