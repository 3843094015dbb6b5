/** The guard's decisions (src/destinations/decisions.ts): pure, no Redis, no clock. */
import type { Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import {
  breakerOnly,
  heldBackCode,
  pauseOf,
  settle,
  waitMs,
  type HeldBack,
  type Lease,
} from '../../src/destinations/decisions.js';
import { buildPolicy, destinationsSchema, type HostPolicy } from '../../src/destinations/policy.js';
import type { AttemptInfo } from '../../src/queue/attempt-hooks.js';

const policy = (limits: object): HostPolicy =>
  buildPolicy(destinationsSchema.parse({ default: limits })).resolve('h');
const lease = (limits: object = {}, probe = false): Lease => ({
  host: 'h',
  leaseId: probe ? 'l1' : '',
  probe,
  policy: policy(limits),
});
const info = (status: number | null, over: Partial<AttemptInfo> = {}): AttemptInfo => ({
  job: {} as Job,
  host: 'h',
  method: 'GET',
  status,
  durationMs: 1,
  outcome: 'completed',
  errorCode: status !== null && status >= 400 ? 'HTTP_STATUS' : undefined,
  ...over,
});
const held = (reason: HeldBack['reason'], ms = 0): HeldBack => ({ go: false, reason, waitMs: ms });

describe('which hosts may skip Redis', () => {
  it('only a host with a breaker and neither a rate nor a concurrency limit', () => {
    expect(breakerOnly(policy({}))).toBe(true);
    expect(breakerOnly(policy({ breaker: false }))).toBe(false);
    expect(breakerOnly(policy({ ratePerSecond: 5 }))).toBe(false);
    expect(breakerOnly(policy({ maxConcurrent: 5 }))).toBe(false);
  });
});

describe('a held-back job', () => {
  it('fails CIRCUIT_OPEN for the breaker, RATE_LIMITED for the limits', () => {
    expect(heldBackCode(held('open'))).toBe('CIRCUIT_OPEN');
    expect(heldBackCode(held('probing'))).toBe('CIRCUIT_OPEN');
    for (const r of ['paused', 'busy', 'reserved', 'no-slot'] as const)
      expect(heldBackCode(held(r))).toBe('RATE_LIMITED');
  });

  it('waits what Redis knows, plus jitter where many jobs would come back together', () => {
    const mid = () => 0.5; // jitter factor 1
    expect(waitMs(held('reserved', 700), 0, mid)).toBe(700);
    expect(waitMs(held('no-slot', 900), 0, mid)).toBe(900);
    expect(waitMs(held('paused', 2000), 0, mid)).toBe(2100);
    expect(waitMs(held('open', 5000), 0, mid)).toBe(5000 + 550);
    expect(waitMs(held('open', 60_000), 0, mid)).toBe(61_000);
    expect(waitMs(held('open', -1), 0, mid)).toBe(60_000);
    expect(waitMs(held('probing', 3000), 0, mid)).toBe(500);
  });

  it('backs off per delay while all concurrency slots are taken, up to 2 s', () => {
    const mid = () => 0.5;
    expect([0, 1, 2, 5, 6, 20].map((d) => waitMs(held('busy'), d, mid))).toEqual([
      50, 100, 200, 1600, 2000, 2000,
    ]);
    expect(waitMs(held('busy'), 0, () => 0)).toBe(25);
    expect(waitMs(held('busy'), 0, () => 0.999)).toBe(75);
  });
});

describe('what a finished call means', () => {
  it('pauses the host only on a 429 or 503 that carried Retry-After', () => {
    expect(pauseOf(info(429, { retryAfterMs: 2000 }))).toBe(2000);
    expect(pauseOf(info(503, { retryAfterMs: 500 }))).toBe(500);
    expect(pauseOf(info(429))).toBe(0);
    expect(pauseOf(info(500, { retryAfterMs: 2000 }))).toBe(0);
  });

  it('fast path (breaker only, not a probe): successes batched, failures now, neutral answers dropped', () => {
    expect(settle(lease(), info(200))).toEqual({ send: 'batch' });
    expect(settle(lease(), info(404))).toEqual({ send: 'batch' });
    expect(settle(lease(), info(502))).toEqual({ send: 'now', kind: 'fail', pauseMs: 0 });
    expect(settle(lease(), info(null, { errorCode: 'TIMEOUT' }))).toEqual({
      send: 'now',
      kind: 'fail',
      pauseMs: 0,
    });
    expect(settle(lease(), info(429))).toEqual({ send: 'nothing' });
    expect(settle(lease(), info(null, { errorCode: 'EGRESS_DENIED' }))).toEqual({
      send: 'nothing',
    });
  });

  it('a Retry-After pause or a probe is recorded at once, whatever the host', () => {
    expect(settle(lease(), info(429, { retryAfterMs: 1000 }))).toEqual({
      send: 'now',
      kind: 'neutral',
      pauseMs: 1000,
    });
    expect(settle(lease({ breaker: false }), info(503, { retryAfterMs: 1000 }))).toEqual({
      send: 'now',
      kind: 'fail',
      pauseMs: 1000,
    });
    expect(settle(lease({}, true), info(200))).toEqual({ send: 'now', kind: 'ok', pauseMs: 0 });
    expect(settle(lease({}, true), info(429))).toEqual({
      send: 'now',
      kind: 'neutral',
      pauseMs: 0,
    });
  });

  it('a host with limits records every call; a host without a breaker records nothing else', () => {
    expect(settle(lease({ maxConcurrent: 2 }), info(200))).toEqual({
      send: 'now',
      kind: 'ok',
      pauseMs: 0,
    });
    expect(settle(lease({ ratePerSecond: 2 }), info(429))).toEqual({
      send: 'now',
      kind: 'neutral',
      pauseMs: 0,
    });
    expect(settle(lease({ maxConcurrent: 2, breaker: false }), info(500))).toEqual({
      send: 'nothing',
    });
  });
});
