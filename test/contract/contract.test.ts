import { describe, expect, it } from 'vitest';
import { idempotencyKey, parseIdempotencyKey } from '../../src/contract/idempotency.js';
import { ERROR_CODES, InvokeError, retryPolicy } from '../../src/contract/errors.js';
import { parseRetryAfter } from '../../src/http/retry-after.js';
import type { Job } from 'bullmq';
import {
  createBackoffStrategy,
  invokeBackoffDelay,
  RETRY_AFTER_TYPE,
} from '../../src/queue/backoff.js';
import { toBullError } from '../../src/worker/outcome.js';

describe('idempotency key / jobId', () => {
  it('is BullMQ-safe (no ":", not an integer) and reversible for awkward ids', () => {
    const awkward = [
      { runId: 'a.b', stepId: 'c' },
      { runId: 'a', stepId: 'b.c' },
      { runId: 'x:y%2E', stepId: '1', visit: 3 },
      { runId: '42', stepId: '7' },
      { runId: 'é ü/?', stepId: '~*' },
    ];
    const ids = awkward.map(idempotencyKey);
    expect(new Set(ids).size).toBe(ids.length);
    for (const [i, id] of ids.entries()) {
      expect(id).not.toContain(':');
      expect(Number.isInteger(Number(id))).toBe(false);
      expect(parseIdempotencyKey(id)).toEqual({ visit: 1, ...awkward[i] });
    }
    expect(idempotencyKey({ runId: 'run-8f2c', stepId: 'fetch-loyalty' })).toBe(
      'ik.run-8f2c.fetch-loyalty.1',
    );
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

  it('Retry-After reaches the strategy on the error: a custom-type job keeps its backoff options', () => {
    const strategy = createBackoffStrategy(60_000);
    const job = { opts: { attempts: 3, backoff: { type: 'invoke', delay: 10 } } } as Job;
    const limited = new InvokeError('HTTP_STATUS', 'api.partner.com/v1 answered 429', {
      status: 429,
      retryAfterMs: 2000,
    });
    const thrown = toBullError(job, limited, false, 'api.partner.com');
    expect(job.opts.backoff).toEqual({ type: 'invoke', delay: 10 });
    expect(strategy(1, 'invoke', thrown, job)).toBe(2000);
    const down = new InvokeError('CONNECT_ERROR', 'api.partner.com: connection refused');
    expect(strategy(1, 'invoke', down, job)).toBeLessThan(10);
  });

  it('a builtin-type job takes Retry-After through its in-memory backoff (BullMQ consults no strategy for it)', () => {
    const strategy = createBackoffStrategy(60_000);
    for (const backoff of [{ type: 'exponential', delay: 10 }, { type: 'fixed', delay: 10 }, 10]) {
      const job = { opts: { attempts: 3, backoff } } as Job;
      const limited = new InvokeError('HTTP_STATUS', 'api.partner.com/v1 answered 503', {
        status: 503,
        retryAfterMs: 1500,
      });
      const thrown = toBullError(job, limited, false, 'api.partner.com');
      expect(job.opts.backoff).toEqual({ type: RETRY_AFTER_TYPE, delay: 1500 });
      expect(strategy(1, RETRY_AFTER_TYPE, thrown, job)).toBe(1500);
    }
  });
});

describe('job schema', () => {
  it('rejects ids that cannot become a jobId (lone surrogates), naming the field', async () => {
    const { invokeJobSchema, describeIssues } = await import('../../src/contract/job.js');
    const r = invokeJobSchema.safeParse({
      v: 1,
      journeyId: 'j',
      runId: 'a\ud800',
      stepId: 's',
      customerId: 'c',
      request: { url: 'https://x.example' },
      save: { variable: 'v' },
    });
    expect(r.success).toBe(false);
    expect(describeIssues(r.error!)).toBe(
      'runId: must be well-formed Unicode (no lone surrogates)',
    );
  });
});
