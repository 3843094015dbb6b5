/** The small shared helpers in src/lib/: pure, no Redis. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseJsonOrText } from '../../src/lib/json.js';
import { ownPath } from '../../src/lib/own-path.js';
import { withTimeout } from '../../src/lib/with-timeout.js';

describe('parseJsonOrText', () => {
  it('parses JSON, keeps anything else as the text', () => {
    expect(parseJsonOrText('{"a":[1,null]}')).toEqual({ a: [1, null] });
    expect(parseJsonOrText('"s"')).toBe('s');
    expect(parseJsonOrText('not json')).toBe('not json');
    expect(parseJsonOrText('{"cut')).toBe('{"cut');
    expect(parseJsonOrText('')).toBe('');
  });
});

describe('ownPath', () => {
  const data = JSON.parse('{"a":{"b":[{"c":"x"}],"n":null,"z":0}}') as unknown;

  it('walks own properties of objects and arrays', () => {
    expect(ownPath(data, ['a', 'b', '0', 'c'])).toBe('x');
    expect(ownPath(data, ['a', 'z'])).toBe(0);
    expect(ownPath(data, ['a', 'n'])).toBeNull();
    expect(ownPath(data, [])).toBe(data);
  });

  it('is undefined for a missing step, a step through a non-object, or an inherited name', () => {
    expect(ownPath(data, ['a', 'missing'])).toBeUndefined();
    expect(ownPath(data, ['a', 'n', 'x'])).toBeUndefined();
    expect(ownPath(data, ['a', 'b', '0', 'c', 'length'])).toBeUndefined();
    expect(ownPath(data, ['a', 'constructor'])).toBeUndefined();
    expect(ownPath(data, ['__proto__'])).toBeUndefined();
    expect(ownPath(data, ['a', 'b', 'length'])).toBe(1);
  });
});

describe('withTimeout', () => {
  afterEach(() => vi.useRealTimers());

  it('true when the promise fulfils in time, false when it rejects', async () => {
    expect(await withTimeout(Promise.resolve('x'), 1000)).toBe(true);
    expect(await withTimeout(Promise.reject(new Error('no')), 1000)).toBe(false);
  });

  it('false when the time runs out first', async () => {
    vi.useFakeTimers();
    const result = withTimeout(new Promise(() => {}), 500);
    vi.advanceTimersByTime(500);
    expect(await result).toBe(false);
  });
});
