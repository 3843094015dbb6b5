/**
 * The guard's per-process view cache (src/destinations/host-views.ts): freshness, pauses, the
 * batch of unsent successes and its timer, and the bounded sweep. Timers are vitest's fake ones.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createHostViews } from '../../src/destinations/host-views.js';

let due: string[];
const make = (maxViews = 100) =>
  createHostViews({ freshMs: 1000, flushMs: 100, maxViews, onFlushDue: (h) => due.push(h) });

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
  due = [];
});
afterEach(() => vi.useRealTimers());

describe('host views', () => {
  it('a host seen closed is fresh for freshMs, and not while paused', () => {
    const v = make();
    expect(v.isFresh('a')).toBe(false);
    v.sawClosed('a');
    vi.advanceTimersByTime(999);
    expect(v.isFresh('a')).toBe(true);
    vi.advanceTimersByTime(1);
    expect(v.isFresh('a')).toBe(false);
    v.sawClosed('a');
    v.pause('a', 500);
    expect(v.isFresh('a')).toBe(false);
    vi.advanceTimersByTime(500);
    expect(v.isFresh('a')).toBe(true);
  });

  it('what Redis says later updates a host in view only', () => {
    const v = make();
    v.learnt('b', true);
    expect(v.size).toBe(0);
    v.sawClosed('a');
    v.learnt('a', false);
    expect(v.isFresh('a')).toBe(false);
    v.learnt('a', true);
    expect(v.isFresh('a')).toBe(true);
  });

  it('successes wait flushMs from the first of a batch; taking them cancels the timer', () => {
    const v = make();
    v.addSuccess('a');
    vi.advanceTimersByTime(60);
    v.addSuccess('a');
    expect(v.hostsWithPending()).toEqual(['a']);
    vi.advanceTimersByTime(40);
    expect(due).toEqual(['a']);
    expect(v.takePending('a')).toBe(2);
    expect(v.takePending('a')).toBe(0);
    v.addSuccess('a');
    expect(v.takePending('a')).toBe(1);
    vi.advanceTimersByTime(1000);
    expect(due).toEqual(['a']);
    expect(v.hostsWithPending()).toEqual([]);
  });

  it('past maxViews, forgets idle views only: never unsent successes or a running pause', () => {
    const v = make(3);
    v.sawClosed('idle');
    v.addSuccess('p1');
    v.pause('paused', 10_000);
    v.sawClosed('new');
    expect(v.size).toBe(3);
    expect(v.isFresh('idle')).toBe(false);
    expect(v.isFresh('new')).toBe(true);
    // The next sweep comes at twice what the last one left (4), then 6: 'new' goes then.
    v.addSuccess('p2');
    v.addSuccess('p3');
    expect(v.size).toBe(4);
    expect(v.isFresh('new')).toBe(false);
    // Nothing idle: a full map is not scanned again for every new host, it doubles.
    for (const h of ['p4', 'p5', 'p6']) v.addSuccess(h);
    expect(v.size).toBe(7); // p1-p6 and the paused host
    expect(v.hostsWithPending()).toEqual(['p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
  });
});
