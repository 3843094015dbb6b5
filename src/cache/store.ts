/**
 * The cache's Redis side: look up or take the lead, put under the memory budget, release,
 * and forget a step's entries. Every key shares the prefix's hash tag (keys.ts), so each of
 * these is one atomic script, on a single node and on a Cluster alike.
 *
 * The budget: at most `maxBytes` of cached values and `maxEntries` entries. A put first
 * forgets up to 100 entries whose TTL has passed (Redis already dropped their values; the
 * books still count them), then, while the new entry would not fit, evicts the entry closest
 * to its expiry (ZPOPMIN on the expiry index): the one with the least life left to give.
 */
import type { RedisClient } from '../redis.js';
import { bookKeys, type EntryKeys } from './keys.js';

export interface Budget {
  maxBytes: number;
  maxEntries: number;
}

// Shared helper: forget one entry (value, index, size, total).
const FORGET = `
local function forget(m)
  local n = redis.call('HGET', KEYS_SIZE, m)
  if n then
    redis.call('DECRBY', KEYS_BYTES, n)
    redis.call('HDEL', KEYS_SIZE, m)
  end
  redis.call('ZREM', KEYS_IDX, m)
  redis.call('DEL', m)
end`;

// KEYS entry, lock; ARGV token, lockMs. -> {1, value} hit | {2} lead | {3} someone else leads
const LOOKUP = `
local v = redis.call('GET', KEYS[1])
if v then return {1, v} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2} end
return {3}`;

// KEYS entry, lock, idx, size, bytes; ARGV value, ttlMs, nowMs, maxBytes, maxEntries, token
// -> number of entries evicted for room.
const PUT = `
local KEYS_IDX, KEYS_SIZE, KEYS_BYTES = KEYS[3], KEYS[4], KEYS[5]
${FORGET}
local now = tonumber(ARGV[3])
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS_IDX, '-inf', now, 'LIMIT', 0, 100)) do forget(m) end
forget(KEYS[1])
local len = string.len(ARGV[1])
local evicted = 0
while tonumber(redis.call('GET', KEYS_BYTES) or '0') + len > tonumber(ARGV[4])
    or redis.call('ZCARD', KEYS_IDX) >= tonumber(ARGV[5]) do
  local popped = redis.call('ZRANGE', KEYS_IDX, 0, 0)
  if #popped == 0 then break end
  forget(popped[1])
  evicted = evicted + 1
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS_IDX, now + tonumber(ARGV[2]), KEYS[1])
redis.call('HSET', KEYS_SIZE, KEYS[1], len)
redis.call('INCRBY', KEYS_BYTES, len)
if redis.call('GET', KEYS[2]) == ARGV[6] then redis.call('DEL', KEYS[2]) end
return evicted`;

// KEYS lock; ARGV token: only the leader's own lock is released.
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

// KEYS idx, size, bytes; ARGV entry keys -> how many were live.
const FORGET_MANY = `
local KEYS_IDX, KEYS_SIZE, KEYS_BYTES = KEYS[1], KEYS[2], KEYS[3]
${FORGET}
local live = 0
for _, m in ipairs(ARGV) do
  live = live + redis.call('EXISTS', m)
  forget(m)
end
return live`;

type Scripts = {
  invokeCacheLookup(
    entry: string,
    lock: string,
    token: string,
    lockMs: number,
  ): Promise<[number, string?]>;
  invokeCachePut(...args: (string | number)[]): Promise<number>;
  invokeCacheRelease(lock: string, token: string): Promise<number>;
  invokeCacheForget(...args: (string | number)[]): Promise<number>;
};

export type Lookup = { kind: 'hit'; value: string } | { kind: 'lead' } | { kind: 'wait' };

export function createCacheStore(redis: RedisClient, prefix: string) {
  redis.defineCommand('invokeCacheLookup', { numberOfKeys: 2, lua: LOOKUP });
  redis.defineCommand('invokeCachePut', { numberOfKeys: 5, lua: PUT });
  redis.defineCommand('invokeCacheRelease', { numberOfKeys: 1, lua: RELEASE });
  redis.defineCommand('invokeCacheForget', { lua: FORGET_MANY });
  const r = redis as unknown as Scripts;
  const books = bookKeys(prefix);

  return {
    async lookup(keys: EntryKeys, token: string, lockMs: number): Promise<Lookup> {
      const [kind, value] = await r.invokeCacheLookup(keys.entry, keys.lock, token, lockMs);
      return kind === 1
        ? { kind: 'hit', value: value! }
        : kind === 2
          ? { kind: 'lead' }
          : { kind: 'wait' };
    },
    /** Stores the value (and releases the lock when `token` holds it); resolves to the evictions. */
    put(
      keys: EntryKeys,
      value: string,
      ttlMs: number,
      token: string,
      budget: Budget,
    ): Promise<number> {
      return r.invokeCachePut(
        keys.entry,
        keys.lock,
        books.idx,
        books.size,
        books.bytes,
        value,
        ttlMs,
        Date.now(),
        budget.maxBytes,
        budget.maxEntries,
        token,
      );
    },
    release: (keys: EntryKeys, token: string) => r.invokeCacheRelease(keys.lock, token),
    /** Forgets the given entries; resolves to how many still held a value. */
    forget: (entries: string[]) =>
      entries.length === 0
        ? Promise.resolve(0)
        : r.invokeCacheForget(3, books.idx, books.size, books.bytes, ...entries),
  };
}

export type CacheStore = ReturnType<typeof createCacheStore>;
