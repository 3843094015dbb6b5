/**
 * The guard's fast path for breaker-only hosts (every host by default): a host this process saw
 * closed less than FRESH_MS ago is called without a Redis round trip, successes reach the
 * breaker in one record per FLUSH_MS, failures and Retry-After pauses at once. The store is the
 * real one on the real Redis; the test only counts the calls that reach it.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DelayedError, type Job } from 'bullmq';
import { pino } from 'pino';
import { buildPolicy, destinationsSchema } from '../../src/destinations/policy.js';
import { createDestinationStore, type DestinationStore } from '../../src/destinations/store.js';
import {
  createDestinationGuard,
  FLUSH_MS,
  FRESH_MS,
  type DestinationGuard,
} from '../../src/destinations/guard.js';
import { hostStatus, openBreaker } from '../../src/destinations/admin.js';
import type { AttemptInfo } from '../../src/queue/attempt-hooks.js';
import { cleanNamespace, namespace, redisClient } from '../helpers/redis.js';

const ns = namespace('fast');
const redis = redisClient();
let n = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
afterAll(async () => {
  await cleanNamespace(redis, ns);
  await redis.quit();
});

interface Counted {
  guard: DestinationGuard;
  calls: { acquire: number; record: number };
  host: string;
  url: URL;
}

/** A guard over the real store, counting the store calls that reach Redis. */
function setup(limits: object = {}, maxHostViews?: number): Counted {
  const real = createDestinationStore(redis, ns.prefix);
  const calls = { acquire: 0, record: 0 };
  const store: DestinationStore = {
    ...real,
    acquire: (...a) => (calls.acquire++, real.acquire(...a)),
    record: (...a) => (calls.record++, real.record(...a)),
  };
  const policy = buildPolicy(destinationsSchema.parse({ default: limits }));
  const guard = createDestinationGuard({
    policy,
    store,
    logger: pino({ level: 'silent' }),
    defaultTimeoutMs: 10_000,
    maxHostViews,
  });
  const host = `h${++n}.example:8080`;
  return { guard, calls, host, url: new URL(`http://${host}/x`) };
}

/** What the guard reads of a BullMQ job; moveToDelayed records where a held job would go. */
function job(): Job & { delayedTo?: number } {
  const j = {
    id: `j${++n}`,
    timestamp: Date.now(),
    data: {},
    attemptsMade: 0,
    attemptsStarted: 1,
  } as unknown as Job & { delayedTo?: number };
  j.moveToDelayed = async (until: number) => void (j.delayedTo = until);
  return j;
}

async function call(c: Counted, status: number, over: Partial<AttemptInfo> = {}): Promise<void> {
  const j = job();
  const release = await c.guard.beforeCall(j, c.url, 'token');
  release();
  c.guard.observe({
    job: j,
    host: c.url.hostname,
    method: 'GET',
    status,
    durationMs: 1,
    errorCode: status >= 500 ? 'HTTP_STATUS' : undefined,
    outcome: 'completed',
    ...over,
  });
}

const status = (c: Counted) => hostStatus(redis, ns.prefix, c.host, Date.now());

describe('fast path for a healthy breaker-only host', () => {
  let c: Counted | undefined;
  afterEach(async () => {
    await c?.guard.flush();
    c = undefined;
  });

  it('asks Redis once, then calls freely and sends the successes in one batch', async () => {
    c = setup();
    for (let i = 0; i < 200; i++) await call(c, 200);
    expect(c.calls).toEqual({ acquire: 1, record: 0 });
    await sleep(FLUSH_MS + 100);
    expect(c.calls.record).toBe(1);
    expect(await status(c)).toMatchObject({
      breaker: 'closed',
      windowCalls: 200,
      windowFailures: 0,
    });
  });

  it('records a failure at once, with the successes before it', async () => {
    c = setup();
    for (let i = 0; i < 5; i++) await call(c, 200);
    await call(c, 503);
    await sleep(20);
    expect(c.calls).toEqual({ acquire: 1, record: 1 });
    expect(await status(c)).toMatchObject({
      windowCalls: 6,
      windowFailures: 1,
      consecutiveFailures: 1,
    });
  });

  it("opens on consecutive failures as before, and then holds this process's calls", async () => {
    c = setup({ breaker: { consecutiveFailures: 3 } });
    await call(c, 200);
    for (let i = 0; i < 3; i++) await call(c, 503);
    await sleep(20);
    expect((await status(c)).breaker).toBe('open');
    await expect(c.guard.beforeCall(job(), c.url, 'token')).rejects.toBeInstanceOf(DelayedError);
    expect(c.calls.acquire).toBe(2);
  });

  it('a breaker opened elsewhere holds this process within FRESH_MS', async () => {
    c = setup();
    await call(c, 200);
    await openBreaker(redis, ns.prefix, c.host);
    // Seen closed a moment ago: still called (the documented staleness) ...
    await call(c, 200);
    await sleep(FRESH_MS + 50);
    // ... but no longer once the view is older than FRESH_MS.
    const held = job();
    await expect(c.guard.beforeCall(held, c.url, 'token')).rejects.toBeInstanceOf(DelayedError);
    expect(held.delayedTo).toBeGreaterThan(Date.now());
  });

  it('a Retry-After pause seen here holds the next call at once', async () => {
    c = setup();
    await call(c, 200);
    await call(c, 429, { retryAfterMs: 2000, errorCode: 'HTTP_STATUS' });
    const held = job();
    await expect(c.guard.beforeCall(held, c.url, 'token')).rejects.toBeInstanceOf(DelayedError);
    expect(held.delayedTo! - Date.now()).toBeGreaterThan(1500);
  });

  it('hosts with a rate or concurrency limit never take the fast path', async () => {
    c = setup({ maxConcurrent: 50 });
    for (let i = 0; i < 5; i++) await call(c, 200);
    expect(c.calls.acquire).toBe(5);
  });

  it('past maxHostViews hosts, no host loses the successes it has not sent yet', async () => {
    c = setup({}, 3);
    const hosts = Array.from({ length: 6 }, (_, i) => `many${++n}-${i}.example:8080`);
    for (const host of hosts) {
      for (let i = 0; i < 4; i++) await call({ ...c, host, url: new URL(`http://${host}/x`) }, 200);
    }
    await sleep(FLUSH_MS + 100);
    for (const host of hosts) {
      expect(await hostStatus(redis, ns.prefix, host, Date.now()), host).toMatchObject({
        windowCalls: 4,
      });
    }
  });
});
