/**
 * What the guard tells Redis (src/destinations/breaker-feed.ts) and how it asks
 * (src/destinations/ask.ts), on the real store: pending successes ride before the call they
 * precede, a batch alone is sent as its own record, the registry is written once a minute per
 * host, and a rate permit seen late is handed back instead of used.
 */
import type { Job } from 'bullmq';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { hostStatus } from '../../src/destinations/admin.js';
import { askRedis } from '../../src/destinations/ask.js';
import { createBreakerFeed } from '../../src/destinations/breaker-feed.js';
import { createHostViews } from '../../src/destinations/host-views.js';
import { buildPolicy, destinationsSchema, type HostPolicy } from '../../src/destinations/policy.js';
import {
  createDestinationStore,
  registryKey,
  type DestinationStore,
} from '../../src/destinations/store.js';
import { cleanNamespace, namespace, redisClient } from '../helpers/redis.js';

const ns = namespace('feed');
const redis = redisClient();
const real = createDestinationStore(redis, ns.prefix);
let n = 0;
const host = () => `feed${++n}.example:8080`;
const policy = (limits: object = {}): HostPolicy =>
  buildPolicy(destinationsSchema.parse({ default: limits })).resolve('x');
afterAll(async () => {
  await cleanNamespace(redis, ns);
  await redis.quit();
});

function feed(store: DestinationStore = real) {
  const views = createHostViews({
    freshMs: 1000,
    flushMs: 60_000,
    maxViews: 100,
    onFlushDue: () => undefined,
  });
  return {
    views,
    feed: createBreakerFeed({
      store,
      views,
      logger: pino({ level: 'silent' }),
      policyOf: () => policy(),
    }),
  };
}

describe('breaker feed', () => {
  it('sends the pending successes with the next call, then alone as a batch', async () => {
    const { views, feed: f } = feed();
    const h = host();
    for (let i = 0; i < 3; i++) views.addSuccess(h);
    await f.send({ host: h, leaseId: '', policy: policy() }, 'fail', 0);
    expect(await hostStatus(redis, ns.prefix, h, Date.now())).toMatchObject({
      windowCalls: 4,
      windowFailures: 1,
      consecutiveFailures: 1,
    });
    for (let i = 0; i < 5; i++) views.addSuccess(h);
    await f.flush();
    expect(views.hostsWithPending()).toEqual([]);
    expect(await hostStatus(redis, ns.prefix, h, Date.now())).toMatchObject({
      windowCalls: 9,
      windowFailures: 1,
      consecutiveFailures: 0,
    });
  });

  it("the breaker's answer refreshes what this process knows of the host", async () => {
    const { views, feed: f } = feed();
    const h = host();
    views.sawClosed(h);
    await real.setState(h, 'open');
    await f.send({ host: h, leaseId: '', policy: policy() }, 'ok', 0);
    expect(views.isFresh(h)).toBe(false);
  });

  it('registers a host once per minute, again after a failed write', async () => {
    let calls = 0;
    let fail = true;
    const store: DestinationStore = {
      ...real,
      register: (h) => {
        calls++;
        return fail ? Promise.reject(new Error('down')) : real.register(h);
      },
    };
    const { feed: f } = feed(store);
    const h = host();
    f.register(h);
    await new Promise((r) => setImmediate(r));
    fail = false;
    f.register(h);
    f.register(h);
    expect(calls).toBe(2);
    await new Promise((r) => setImmediate(r));
    expect(await redis.zscore(registryKey(ns.prefix), h)).not.toBeNull();
  });
});

describe('asking Redis', () => {
  const job = (over: object = {}) =>
    ({ id: `j${++n}`, timestamp: Date.now(), data: {}, ...over }) as unknown as Job;
  const limits = { deadlineMs: 60_000, defaultTimeoutMs: 10_000 };

  it('grants a call with its lease id, or says why not', async () => {
    const h = host();
    const p = policy({ maxConcurrent: 1, breaker: false });
    const first = await askRedis(real, job(), h, p, limits);
    expect(first).toMatchObject({ go: true, probe: false, leaseId: expect.any(String) });
    expect(await askRedis(real, job(), h, p, limits)).toMatchObject({ go: false, reason: 'busy' });
    await real.release(h, (first as { leaseId: string }).leaseId);
  });

  it('hands a rate permit back when this process saw it late, and the job keeps its slot', async () => {
    const h = host();
    const p = policy({ ratePerSecond: 1, breaker: false });
    // A process stalled between Redis granting the permit and seeing it: the reply comes late.
    const stalled: DestinationStore = {
      ...real,
      acquire: async (...a) => {
        const v = await real.acquire(...a);
        await new Promise((r) => setTimeout(r, 150));
        return v;
      },
    };
    const j = job();
    expect(await askRedis(stalled, j, h, p, limits)).toEqual({
      go: false,
      reason: 'busy',
      waitMs: 0,
    });
    // The permit was struck from the rate window: the same job may go at once.
    expect(await askRedis(real, j, h, p, limits)).toMatchObject({ go: true });
  });
});
