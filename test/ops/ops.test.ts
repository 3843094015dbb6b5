/** Pure parts of the operator API and metrics: durations, filters, BullMQ metric windows, labels. */
import { describe, expect, it } from 'vitest';
import { groupValue, matches, parseDuration, toFilter, type Failure } from '../../src/ops/failure.js';
import { recentCount } from '../../src/ops/status.js';
import { parseAttemptLine } from '../../src/ops/inspect.js';
import { createHostLabeler } from '../../src/metrics/index.js';

const f = (over: Partial<Failure> = {}): Failure => ({ id: '1', journey: 'j', tenant: '', runId: 'r', stepId: 's', host: 'api.partner.com', code: 'HTTP_STATUS', status: 503, reason: '', attempts: 5, failedAt: 1_000_000, held: false, ...over });

describe('filters', () => {
  it('parses durations and names the flag on a bad one', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(() => parseDuration('soon', 'since')).toThrow('since: "soon" is not a duration');
    expect(() => toFilter({ status: 'abc' })).toThrow(/^status: /);
  });
  it('matches on every field, case-insensitive for host and code', () => {
    const now = 1_000_000 + 60_000;
    expect(matches(f(), toFilter({ host: 'API.partner.com', code: 'http_status', status: '503', journey: 'j', since: '2m' }), now)).toBe(true);
    expect(matches(f(), toFilter({ since: '30s' }), now)).toBe(false);
    expect(matches(f(), toFilter({ status: 500 }), now)).toBe(false);
    expect(matches(f({ host: 'other.com' }), toFilter({ host: 'api.partner.com' }), now)).toBe(false);
    expect(matches(f(), toFilter({ held: true }), now)).toBe(false);
    expect(matches(f({ held: true }), toFilter({ held: true }), now)).toBe(true);
  });
  it('filters and groups by tenant; - selects jobs without tenantId; a bad tenant id names the flag', () => {
    expect(matches(f({ tenant: 'acme' }), toFilter({ tenant: 'acme' }))).toBe(true);
    expect(matches(f({ tenant: 'globex' }), toFilter({ tenant: 'acme' }))).toBe(false);
    expect(matches(f({ tenant: '' }), toFilter({ tenant: 'acme' }))).toBe(false);
    expect(matches(f({ tenant: '' }), toFilter({ tenant: '-' }))).toBe(true);
    expect(matches(f({ tenant: 'acme' }), toFilter({ tenant: '-' }))).toBe(false);
    expect(groupValue(f({ tenant: 'acme' }), 'tenant')).toBe('acme');
    expect(groupValue(f(), 'tenant')).toBe('(none)');
    expect(() => toFilter({ tenant: 'a b' })).toThrow(/^tenant: /);
  });
});

describe('recentCount over BullMQ metrics', () => {
  const at = (min: number) => min * 60_000 + 5_000;
  it('counts the pending minute and the data points inside the window only', () => {
    const m = { meta: { count: 110, prevTS: at(100), prevCount: 100 }, data: [1, 2, 4, 8], count: 4 };
    expect(recentCount(m, 1, at(100))).toBe(10);
    expect(recentCount(m, 3, at(100))).toBe(13);
    expect(recentCount(m, 3, at(101))).toBe(11);
    expect(recentCount(m, 3, at(103))).toBe(0);
    expect(recentCount({ meta: { count: 0, prevTS: 0, prevCount: 0 }, data: [], count: 0 }, 15)).toBe(0);
  });
});

describe('attempt log lines', () => {
  it('reads status, code, attempt and outcome back', () => {
    expect(parseAttemptLine('GET api.partner.com/v1/x -> 503 in 12 ms HTTP_STATUS (attempt 2, retry)')).toMatchObject({ n: 2, status: 503, code: 'HTTP_STATUS', outcome: 'retry' });
    expect(parseAttemptLine('POST a.com/ -> - in 3001 ms TIMEOUT (attempt 1, held)')).toMatchObject({ status: null, code: 'TIMEOUT', outcome: 'held' });
    expect(parseAttemptLine('GET a.com/ -> 200 in 5 ms (attempt 1, completed)')).toMatchObject({ code: null, status: 200 });
    expect(parseAttemptLine('something else')).toBeUndefined();
  });
});

describe('host labels', () => {
  it('caps distinct hosts and folds the rest into other', () => {
    const label = createHostLabeler(2);
    expect([label('A.com'), label('b.com'), label('c.com'), label('a.com'), label('')]).toEqual(['a.com', 'b.com', 'other', 'a.com', 'other']);
  });
});
