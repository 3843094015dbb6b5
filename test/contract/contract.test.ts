import { describe, expect, it } from 'vitest';
import { idempotencyKey, parseIdempotencyKey } from '../../src/contract/idempotency.js';
import { ERROR_CODES, InvokeError, retryPolicy } from '../../src/contract/errors.js';
import { parseRetryAfter } from '../../src/http/retry-after.js';
import { invokeBackoffDelay } from '../../src/queue/backoff.js';

describe('idempotency key / jobId', () => {
  it('is BullMQ-safe (no ":", not an integer) and reversible for awkward ids', () => {
    const awkward = [{ runId: 'a.b', stepId: 'c' }, { runId: 'a', stepId: 'b.c' }, { runId: 'x:y%2E', stepId: '1', visit: 3 }, { runId: '42', stepId: '7' }, { runId: 'é ü/?', stepId: '~*' }];
    const ids = awkward.map(idempotencyKey);
    expect(new Set(ids).size).toBe(ids.length);
    for (const [i, id] of ids.entries()) {
      expect(id).not.toContain(':');
      expect(Number.isInteger(Number(id))).toBe(false);
      expect(parseIdempotencyKey(id)).toEqual({ visit: 1, ...awkward[i] });
    }
    expect(idempotencyKey({ runId: 'run-8f2c', stepId: 'fetch-loyalty' })).toBe('ik.run-8f2c.fetch-loyalty.1');
  });
});

describe('error codes', () => {
  it('every code has a retry policy and the retryable flag follows it', () => {
    for (const code of ERROR_CODES) expect(retryPolicy(code)).toBeTruthy();
    expect(new InvokeError('HTTP_STATUS', 'x', { status: 503 }).retryable).toBe(true);
    expect(new InvokeError('HTTP_STATUS', 'x', { status: 404 }).retryable).toBe(false);
    expect(new InvokeError('HTTP_STATUS', 'x', { status: 302 }).retryable).toBe(false);
    expect(new InvokeError('TIMEOUT', 'x').retryable).toBe(true);
    expect(new InvokeError('TEMPLATE_ERROR', 'x').retryable).toBe(false);
    expect(new InvokeError('TIMEOUT', 'x').stack).toBe('InvokeError: TIMEOUT: x');
  });
});

describe('Retry-After and backoff', () => {
  it('parses seconds and HTTP dates, capped, never negative', () => {
    const now = Date.parse('2026-11-24T12:00:00Z');
    expect(parseRetryAfter('2', 60_000, now)).toBe(2000);
    expect(parseRetryAfter('Tue, 24 Nov 2026 12:00:30 GMT', 60_000, now)).toBe(30_000);
    expect(parseRetryAfter('Tue, 24 Nov 2026 11:00:00 GMT', 60_000, now)).toBe(0);
    expect(parseRetryAfter('99999', 60_000, now)).toBe(60_000);
    expect(parseRetryAfter('soon', 60_000, now)).toBeUndefined();
  });

  it('invoke backoff grows exponentially with jitter and is capped', () => {
    expect(invokeBackoffDelay(1, 1000, 60_000, () => 0)).toBe(500);
    expect(invokeBackoffDelay(1, 1000, 60_000, () => 0.999)).toBe(999);
    expect(invokeBackoffDelay(4, 1000, 60_000, () => 0)).toBe(4000);
    expect(invokeBackoffDelay(20, 1000, 60_000, () => 1)).toBe(60_000);
  });
});

describe('job schema', () => {
  it('rejects ids that cannot become a jobId (lone surrogates), naming the field', async () => {
    const { invokeJobSchema, describeIssues } = await import('../../src/contract/job.js');
    const r = invokeJobSchema.safeParse({ v: 1, journeyId: 'j', runId: 'a\ud800', stepId: 's', customerId: 'c', request: { url: 'https://x.example' }, save: { variable: 'v' } });
    expect(r.success).toBe(false);
    expect(describeIssues(r.error!)).toBe('runId: must be well-formed Unicode (no lone surrogates)');
  });
});
