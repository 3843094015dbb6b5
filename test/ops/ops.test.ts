/** Pure parts of the operator API and metrics: durations, filters, BullMQ metric windows, labels. */
import { describe, expect, it } from 'vitest';
import { UnrecoverableError, type Job } from 'bullmq';
import { InvokeError } from '../../src/contract/errors.js';
import { OpsError } from '../../src/ops/errors.js';
import {
  failureOf,
  groupValue,
  matches,
  parseDuration,
  toFilter,
  type Failure,
} from '../../src/ops/failure.js';
import { failureFactsOf, recordFacts } from '../../src/queue/failure-facts.js';
import { toBullError } from '../../src/worker/outcome.js';
import { recentCount } from '../../src/ops/status.js';
import { parseAttemptLine } from '../../src/ops/inspect.js';
import { createHostLabeler } from '../../src/metrics/index.js';

const f = (over: Partial<Failure> = {}): Failure => ({
  id: '1',
  journey: 'j',
  tenant: '',
  runId: 'r',
  stepId: 's',
  host: 'api.partner.com',
  code: 'HTTP_STATUS',
  status: 503,
  reason: '',
  attempts: 5,
  failedAt: 1_000_000,
  held: false,
  ...over,
});

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
    expect(
      matches(
        f(),
        toFilter({
          host: 'API.partner.com',
          code: 'http_status',
          status: '503',
          journey: 'j',
          since: '2m',
        }),
        now,
      ),
    ).toBe(true);
    expect(matches(f(), toFilter({ since: '30s' }), now)).toBe(false);
    expect(matches(f(), toFilter({ status: 500 }), now)).toBe(false);
    expect(matches(f({ host: 'other.com' }), toFilter({ host: 'api.partner.com' }), now)).toBe(
      false,
    );
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
  it('refuses bad input with an OpsError of kind bad-input (the surfaces map the kind, not the text)', () => {
    for (const bad of [
      () => parseDuration('soon', 'since'),
      () => toFilter({ status: 'abc' }),
      () => toFilter({ tenant: 'a b' }),
    ]) {
      expect(bad).toThrow(OpsError);
      try {
        bad();
      } catch (err) {
        expect((err as OpsError).kind).toBe('bad-input');
      }
    }
  });
});

describe('failure facts', () => {
  /** A failed job as BullMQ reads it back from its hash (only the fields failureOf reads). */
  const failed = (over: Partial<Job>): Job =>
    ({
      id: '7',
      data: { journeyId: 'j', runId: 'r', stepId: 's' },
      attemptsMade: 3,
      timestamp: 1,
      finishedOn: 2,
      failedReason: '',
      stacktrace: [],
      progress: 0,
      ...over,
    }) as Job;

  it('travel in the stack BullMQ stores for the thrown error, for a final and a retried failure', () => {
    const busy = new InvokeError('HTTP_STATUS', 'api.partner.com/v1 answered 503', { status: 503 });
    const final = toBullError({ opts: {} } as Job, busy, true, 'api.partner.com');
    expect(final).toBeInstanceOf(UnrecoverableError);
    expect(final.stack?.split('\n')[0]).toBe(
      'UnrecoverableError: HTTP_STATUS: api.partner.com/v1 answered 503',
    );
    expect(failureFactsOf({ stacktrace: [final.stack!], progress: 0 })).toEqual({
      code: 'HTTP_STATUS',
      status: 503,
      host: 'api.partner.com',
    });
    const retried = toBullError({ opts: {} } as Job, busy, false, 'api.partner.com');
    expect(failureFactsOf({ stacktrace: ['older', retried.stack!], progress: 0 })).toEqual({
      code: 'HTTP_STATUS',
      status: 503,
      host: 'api.partner.com',
    });
  });

  it('are read from the last failure only, never from the failedReason text', () => {
    const facts = recordFacts(new Error('TIMEOUT: api.partner.com/v1 timed out'), {
      code: 'TIMEOUT',
      status: null,
      host: 'api.partner.com',
    }).stack!;
    expect(
      failureOf(
        failed({ failedReason: 'TIMEOUT: api.partner.com/v1 timed out', stacktrace: [facts] }),
      ),
    ).toMatchObject({
      code: 'TIMEOUT',
      status: null,
      host: 'api.partner.com',
      reason: 'TIMEOUT: api.partner.com/v1 timed out',
    });
    // An internal error after a classified attempt: the last failure is not ours.
    const internal =
      'Error: internal error (ReplyError); will retry\n    at process (file:///app/dist/worker/processor.js:1:1)';
    expect(
      failureOf(
        failed({
          failedReason: 'internal error (ReplyError); will retry',
          stacktrace: [facts, internal],
        }),
      ),
    ).toMatchObject({ code: 'INTERNAL', status: null, host: '' });
    // A reason that reads like a code is still only text.
    expect(
      failureOf(failed({ failedReason: 'HTTP_STATUS: looks like ours', stacktrace: [] })).code,
    ).toBe('INTERNAL');
    // Forged or broken facts are not facts.
    expect(
      failureFactsOf({
        stacktrace: ['Error: x\n    invoke-failure {"code":"NOPE","status":1,"host":""}'],
        progress: 0,
      }),
    ).toBeUndefined();
    expect(
      failureFactsOf({ stacktrace: ['Error: x\n    invoke-failure {not json'], progress: 0 }),
    ).toBeUndefined();
  });

  it('of a job failed by an earlier worker are read from its progress', () => {
    const old = failed({
      failedReason: 'HTTP_STATUS: api.partner.com/v1 answered 502',
      stacktrace: ['UnrecoverableError: HTTP_STATUS: api.partner.com/v1 answered 502'],
      progress: { code: 'HTTP_STATUS', status: 502, host: 'api.partner.com' },
    });
    expect(failureOf(old)).toMatchObject({
      code: 'HTTP_STATUS',
      status: 502,
      host: 'api.partner.com',
    });
  });
});

describe('recentCount over BullMQ metrics', () => {
  const at = (min: number) => min * 60_000 + 5_000;
  it('counts the pending minute and the data points inside the window only', () => {
    const m = {
      meta: { count: 110, prevTS: at(100), prevCount: 100 },
      data: [1, 2, 4, 8],
      count: 4,
    };
    expect(recentCount(m, 1, at(100))).toBe(10);
    expect(recentCount(m, 3, at(100))).toBe(13);
    expect(recentCount(m, 3, at(101))).toBe(11);
    expect(recentCount(m, 3, at(103))).toBe(0);
    expect(
      recentCount({ meta: { count: 0, prevTS: 0, prevCount: 0 }, data: [], count: 0 }, 15),
    ).toBe(0);
  });
});

describe('attempt log lines', () => {
  it('reads status, code, attempt and outcome back', () => {
    expect(
      parseAttemptLine('GET api.partner.com/v1/x -> 503 in 12 ms HTTP_STATUS (attempt 2, retry)'),
    ).toMatchObject({ n: 2, status: 503, code: 'HTTP_STATUS', outcome: 'retry' });
    expect(parseAttemptLine('POST a.com/ -> - in 3001 ms TIMEOUT (attempt 1, held)')).toMatchObject(
      { status: null, code: 'TIMEOUT', outcome: 'held' },
    );
    expect(parseAttemptLine('GET a.com/ -> 200 in 5 ms (attempt 1, completed)')).toMatchObject({
      code: null,
      status: 200,
    });
    expect(parseAttemptLine('something else')).toBeUndefined();
  });
});

describe('host labels', () => {
  it('caps distinct hosts and folds the rest into other', () => {
    const label = createHostLabeler(2);
    expect([label('A.com'), label('b.com'), label('c.com'), label('a.com'), label('')]).toEqual([
      'a.com',
      'b.com',
      'other',
      'a.com',
      'other',
    ]);
  });
});
