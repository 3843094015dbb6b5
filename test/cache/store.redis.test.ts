/** The cache's memory budget and single-flight lock, on the real Redis. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCacheStore, type CacheStore } from '../../src/cache/store.js';
import { createResponseCache, type CachedResult } from '../../src/cache/response-cache.js';
import { bookKeys, entryKeys } from '../../src/cache/keys.js';
import { parseJob } from '../../src/contract/invalid-job.js';
import { cleanNamespace, namespace, namespaceKeys, redisClient } from '../helpers/redis.js';

const ns = namespace('cache');
const prefix = `test:${ns.id}:{cache}`;
const redis = redisClient();
let store: CacheStore;
const books = bookKeys(prefix);
const keys = (k: string) => entryKeys(prefix, { journeyId: 'j', stepId: 's' }, k);

beforeAll(() => {
  store = createCacheStore(redis, prefix);
});
afterAll(async () => {
  await cleanNamespace(redis, ns);
  await redis.quit();
});

describe('the memory budget', () => {
  it('holds at most maxEntries, evicting the entry closest to its expiry', async () => {
    const budget = { maxBytes: 1_000_000, maxEntries: 3 };
    for (const [k, ttl] of [
      ['a', 50_000],
      ['b', 10_000],
      ['c', 60_000],
      ['d', 40_000],
    ] as const) {
      await store.put(keys(k), `value-${k}`, ttl, 't', budget);
    }
    expect(await redis.zcard(books.idx)).toBe(3);
    expect(await redis.exists(keys('b').entry)).toBe(0); // the shortest life left went first
    expect(await redis.get(books.bytes)).toBe(String(3 * 'value-a'.length));
    await store.forget([keys('a').entry, keys('c').entry, keys('d').entry]);
    expect(await redis.get(books.bytes)).toBe('0');
    expect(await redis.zcard(books.idx)).toBe(0);
  });

  it('holds at most maxBytes of values, and a replaced entry is counted once', async () => {
    const budget = { maxBytes: 100, maxEntries: 1000 };
    const v = 'x'.repeat(40);
    await store.put(keys('1'), v, 10_000, 't', budget);
    await store.put(keys('1'), v, 20_000, 't', budget);
    expect(await redis.get(books.bytes)).toBe('40');
    await store.put(keys('2'), v, 30_000, 't', budget);
    await store.put(keys('3'), v, 40_000, 't', budget);
    expect(await redis.get(books.bytes)).toBe('80');
    expect(await redis.exists(keys('1').entry)).toBe(0);
    await store.forget([keys('2').entry, keys('3').entry]);
  });

  it('forgets entries whose TTL passed before counting the new one', async () => {
    const budget = { maxBytes: 1_000_000, maxEntries: 1000 };
    await store.put(keys('short'), 'v', 1, 't', budget);
    await new Promise((r) => setTimeout(r, 5)); // a 1 ms TTL: past on any machine after 5 ms
    await store.put(keys('long'), 'w', 60_000, 't', budget);
    expect(await redis.zrange(books.idx, '0', '-1')).toEqual([keys('long').entry]);
    expect(await redis.get(books.bytes)).toBe('1');
    await store.forget([keys('long').entry]);
  });
});

describe('the single-flight lock', () => {
  it("gives the lead to one caller, releases only the leader's own lock", async () => {
    const k = keys('lock');
    expect(await store.lookup(k, 'A', 5000)).toEqual({ kind: 'lead' });
    expect(await store.lookup(k, 'B', 5000)).toEqual({ kind: 'wait' });
    expect(await store.release(k, 'B')).toBe(0);
    expect(await store.release(k, 'A')).toBe(1);
    expect(await store.lookup(k, 'B', 5000)).toEqual({ kind: 'lead' });
    await store.put(k, '"v"', 60_000, 'B', { maxBytes: 1000, maxEntries: 10 });
    expect(await redis.exists(k.lock)).toBe(0);
    expect(await store.lookup(k, 'C', 5000)).toEqual({ kind: 'hit', value: '"v"' });
    await store.forget([k.entry]);
  });

  it('does not keep a result over maxEntryBytes', async () => {
    const cache = createResponseCache(store, {
      prefix,
      maxEntryBytes: 100,
      defaultTimeoutMs: 1000,
      budget: { maxBytes: 10_000, maxEntries: 10 },
    });
    const job = parseJob({
      v: 1,
      journeyId: 'j',
      runId: 'r',
      stepId: 'big',
      customerId: 'c',
      request: { url: 'https://x.example/' },
      save: { variable: 'v' },
      cache: { key: 'k', ttlSeconds: 60 },
    });
    const big: CachedResult = { status: 200, headers: {}, body: 'y'.repeat(200) };
    const through = () =>
      cache.through(
        { ...job, cache: job.cache! },
        'k',
        false,
        async () => big,
        (r) => r,
        (e) => e,
      );
    expect((await through()).use).toBe('miss');
    expect((await through()).use).toBe('miss');
    expect(
      (await namespaceKeys(redis, ns)).filter((k) => k.includes(':e:') || k.includes(':l:')),
    ).toEqual([]);
    expect(await redis.zcard(books.idx)).toBe(0);
  });
});
