/** The destination Lua scripts against the real Redis: GCRA, leases, breaker, pause, admin. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPolicy, destinationsSchema, type HostPolicy } from '../../src/destinations/policy.js';
import { createDestinationStore, type DestinationStore } from '../../src/destinations/store.js';
import {
  closeBreaker,
  hostStatus,
  listDestinations,
  openBreaker,
} from '../../src/destinations/admin.js';
import { cleanNamespace, namespace, redisClient } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

const ns = namespace('dest');
const redis = redisClient();
let store: DestinationStore;
let n = 0;
const host = () => `h${++n}.example:8080`;
const lease = (over: Partial<{ jobId: string; leaseMs: number; maxWaitMs: number }> = {}) => ({
  leaseId: `l${++n}`,
  jobId: `j${++n}`,
  leaseMs: 10_000,
  maxWaitMs: 60_000,
  ...over,
});
const policy = (limits: object): HostPolicy =>
  buildPolicy(destinationsSchema.parse({ default: limits })).resolve('x');

beforeAll(() => {
  store = createDestinationStore(redis, ns.prefix);
});
afterAll(async () => {
  await cleanNamespace(redis, ns);
  await redis.quit();
});

describe('rate (GCRA with reserved slots)', () => {
  it('lets one call through per interval and delays the next to its own slot', async () => {
    const h = host();
    const p = policy({ ratePerSecond: 10, breaker: false });
    expect(await store.acquire(h, p, lease())).toEqual({ go: true, probe: false });
    const t2 = Date.now();
    const second = await store.acquire(h, p, lease({ jobId: 'late' }));
    const t2end = Date.now();
    expect(second).toMatchObject({ go: false, reason: 'reserved' });
    const t3 = Date.now();
    const third = await store.acquire(h, p, lease());
    const t3end = Date.now();
    // Each delayed call gets the next free slot, 100 ms apart (in absolute time). Each wait is
    // relative to when Redis ran the script, somewhere inside its call's [start, end] window.
    const w2 = (second as { waitMs: number }).waitMs;
    const w3 = (third as { waitMs: number }).waitMs;
    expect(t3end + w3 - (t2 + w2)).toBeGreaterThanOrEqual(100 - 2);
    expect(t3 + w3 - (t2end + w2)).toBeLessThanOrEqual(100 + 2);
    // Coming back early keeps the reservation; on time it goes without taking another slot.
    expect(await store.acquire(h, p, lease({ jobId: 'late' }))).toMatchObject({
      go: false,
      reason: 'reserved',
    });
    await new Promise((r) => setTimeout(r, (second as { waitMs: number }).waitMs + 5));
    expect(await store.acquire(h, p, lease({ jobId: 'late' }))).toEqual({ go: true, probe: false });
  });

  it("a permit handed back unused keeps the job's slot and leaves the window", async () => {
    const h = host();
    const p = policy({ ratePerSecond: 1, breaker: false });
    const a = lease({ jobId: 'stalled' });
    expect((await store.acquire(h, p, a)).go).toBe(true);
    await store.release(h, a.leaseId, 'stalled');
    expect(await store.acquire(h, p, lease())).toMatchObject({ go: false, reason: 'reserved' });
    expect(await store.acquire(h, p, lease({ jobId: 'stalled' }))).toEqual({
      go: true,
      probe: false,
    });
  });

  it("does not reserve a slot beyond the caller's deadline", async () => {
    const h = host();
    const p = policy({ ratePerSecond: 1, breaker: false });
    await store.acquire(h, p, lease());
    expect(await store.acquire(h, p, lease({ maxWaitMs: 10 }))).toMatchObject({
      go: false,
      reason: 'no-slot',
    });
  });
});

describe('concurrency leases', () => {
  it("caps calls in flight, frees a slot on release, and frees a crashed worker's slot on expiry", async () => {
    const h = host();
    const p = policy({ maxConcurrent: 2, breaker: false });
    const a = lease();
    expect((await store.acquire(h, p, a)).go).toBe(true);
    expect((await store.acquire(h, p, lease({ leaseMs: 200 }))).go).toBe(true);
    expect(await store.acquire(h, p, lease())).toMatchObject({ go: false, reason: 'busy' });
    await store.release(h, a.leaseId);
    expect((await store.acquire(h, p, lease())).go).toBe(true);
    // The 200 ms lease was never released: it expires by itself.
    await waitFor(
      async () => (await store.acquire(h, p, lease())).go,
      'the expired lease to free its slot',
      2000,
    );
  });
});

describe('breaker', () => {
  it('opens after N consecutive failures, lets one probe through when half-open, closes on success', async () => {
    const h = host();
    const p = policy({ breaker: { consecutiveFailures: 3, openMs: 300 } });
    for (let i = 0; i < 3; i++) {
      const l = lease();
      expect((await store.acquire(h, p, l)).go).toBe(true);
      const r = await store.record(h, p.breaker, { leaseId: l.leaseId, kind: 'fail', pauseMs: 0 });
      expect(r.transition).toBe(i === 2 ? 'opened' : '');
    }
    expect(await store.acquire(h, p, lease())).toMatchObject({ go: false, reason: 'open' });
    const probe = lease();
    await waitFor(
      async () => (await store.acquire(h, p, probe)).go,
      'the breaker to go half-open',
      2000,
    );
    expect(await store.acquire(h, p, lease())).toMatchObject({ go: false, reason: 'probing' });
    expect(
      await store.record(h, p.breaker, { leaseId: probe.leaseId, kind: 'ok', pauseMs: 0 }),
    ).toEqual({ state: 'closed', transition: 'closed' });
    expect((await store.acquire(h, p, lease())).go).toBe(true);
  });

  it('opens on a failure ratio over the window, and a failed probe opens it again', async () => {
    const h = host();
    const p = policy({
      breaker: { consecutiveFailures: 0, failureRatio: 0.7, minCalls: 10, openMs: 200 },
    });
    const kinds = [
      'ok',
      'fail',
      'ok',
      'fail',
      'fail',
      'ok',
      'fail',
      'fail',
      'fail',
      'fail',
    ] as const;
    const seen = [];
    for (const kind of kinds)
      seen.push((await store.record(h, p.breaker, { leaseId: 'x', kind, pauseMs: 0 })).transition);
    expect(seen.indexOf('opened')).toBe(9);
    const probe = lease();
    await waitFor(async () => (await store.acquire(h, p, probe)).go, 'half-open', 2000);
    expect(
      (await store.record(h, p.breaker, { leaseId: probe.leaseId, kind: 'fail', pauseMs: 0 }))
        .transition,
    ).toBe('opened');
    expect(await store.acquire(h, p, lease())).toMatchObject({ go: false, reason: 'open' });
  });
});

describe("breaker fed in batches (the guard's fast path)", () => {
  it('counts the successes sent along with a call, and a failure after them starts a new run', async () => {
    const h = host();
    const p = policy({ breaker: { consecutiveFailures: 3 } });
    for (let i = 0; i < 2; i++)
      await store.record(h, p.breaker, { leaseId: '', kind: 'fail', pauseMs: 0 });
    const status = () => hostStatus(redis, ns.prefix, h, Date.now());
    expect(await status()).toMatchObject({
      windowCalls: 2,
      windowFailures: 2,
      consecutiveFailures: 2,
    });
    // 3 successes came before this failure: the run of failures is broken, so no opening at 3.
    expect(
      await store.record(h, p.breaker, { leaseId: '', kind: 'fail', pauseMs: 0, okBefore: 3 }),
    ).toEqual({ state: 'closed', transition: '' });
    expect(await status()).toMatchObject({
      windowCalls: 6,
      windowFailures: 3,
      consecutiveFailures: 1,
    });
    await store.record(h, p.breaker, { leaseId: '', kind: 'ok', pauseMs: 0, okBefore: 4 });
    expect(await status()).toMatchObject({
      windowCalls: 11,
      windowFailures: 3,
      consecutiveFailures: 0,
    });
  });
});

describe('Retry-After pause and operators', () => {
  it('pauses a host for every caller until Retry-After', async () => {
    const h = host();
    const p = policy({});
    await store.record(h, p.breaker, { leaseId: 'x', kind: 'neutral', pauseMs: 400 });
    const v = await store.acquire(h, p, lease());
    expect(v).toMatchObject({ go: false, reason: 'paused' });
    expect((v as { waitMs: number }).waitMs).toBeGreaterThan(300);
  });

  it('opens a breaker by hand until closed, and lists it', async () => {
    const h = host();
    const p = policy({ breaker: false });
    await store.register(h);
    expect(await openBreaker(redis, ns.prefix, h)).toMatchObject({
      host: h,
      breaker: 'open',
      manual: true,
      openUntil: null,
    });
    expect(await store.acquire(h, p, lease())).toMatchObject({
      go: false,
      reason: 'open',
      waitMs: -1,
    });
    expect((await listDestinations(redis, ns.prefix)).find((d) => d.host === h)).toMatchObject({
      breaker: 'open',
      manual: true,
    });
    expect(await closeBreaker(redis, ns.prefix, h)).toMatchObject({
      breaker: 'closed',
      manual: false,
    });
    expect((await store.acquire(h, p, lease())).go).toBe(true);
  });
});
