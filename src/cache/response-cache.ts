/**
 * The response cache as a stage of one attempt (contract v1.1 section 6.4): a job whose step
 * has `cache` saves the step's cached result instead of calling, when there is one; jobs that
 * miss the same key at the same time make one call between them, on any number of workers.
 *
 *   1. bypass  a request that carried a secret (or used a credential) is never cached unless
 *              the step says `cache.withSecrets: true` (docs/outcomes.md says why)
 *   2. lookup  a hit is the result; a miss takes the key's lock (SET NX) and calls
 *   3. wait    a miss that finds the lock taken polls for the leader's result (5 -> 100 ms)
 *              until the lock goes; then it looks up again, and may lead in turn. It never
 *              waits longer than the lock could be held: then it calls on its own.
 *   4. put     only a success (after `expect`) under the size cap is stored, with the TTL;
 *              a failure just releases the lock so the next job tries.
 * A cache that cannot be written (Redis trouble after the call) never fails the job: the call
 * was made, its result is saved; the next job calls again.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { InvokeJob } from '../contract/job.js';
import { entryKeys } from './keys.js';
import type { Budget, CacheStore } from './store.js';

/** What a cache entry holds: the success as the envelope saves it (after save.pick). */
export interface CachedResult {
  status: number | null;
  headers: Record<string, string>;
  body: unknown;
}

export type CacheUse = 'hit' | 'miss' | 'bypass';

export interface ResponseCacheOptions {
  prefix: string;
  maxEntryBytes: number;
  budget: Budget;
  defaultTimeoutMs: number;
  onError?: (what: string, err: unknown) => void;
}

/** Longest a leader may hold a key: the call's timeout plus room for the save. */
const LOCK_MARGIN_MS = 5000;
const POLL_FIRST_MS = 5;
const POLL_MAX_MS = 100;

export function createResponseCache(store: CacheStore, opts: ResponseCacheOptions) {
  /**
   * Runs `call` unless the step's cache has the result. `toEntry` says what of a result may be
   * kept (undefined: not a success), `fromEntry` turns a kept entry back into a result.
   */
  async function through<T>(
    job: InvokeJob & { cache: NonNullable<InvokeJob['cache']> },
    renderedKey: string,
    carriedSecret: boolean,
    call: () => Promise<T>,
    toEntry: (result: T) => CachedResult | undefined,
    fromEntry: (entry: CachedResult) => T,
  ): Promise<{ result: T; use: CacheUse }> {
    if (carriedSecret && !job.cache.withSecrets) return { result: await call(), use: 'bypass' };
    const keys = entryKeys(opts.prefix, job, renderedKey);
    const token = randomUUID();
    const lockMs = (job.request.timeoutMs ?? opts.defaultTimeoutMs) + LOCK_MARGIN_MS;
    const waitUntil = Date.now() + lockMs;
    let delay = POLL_FIRST_MS;
    let lead = false;
    for (;;) {
      const found = await store.lookup(keys, token, lockMs);
      if (found.kind === 'hit') {
        const entry = parseEntry(found.value);
        if (entry) return { result: fromEntry(entry), use: 'hit' };
        break; // not ours to read (another version wrote it): call, and overwrite it
      }
      if (found.kind === 'lead') {
        lead = true;
        break;
      }
      if (Date.now() >= waitUntil) break;
      await sleep(delay);
      delay = Math.min(delay * 2, POLL_MAX_MS);
    }
    let stored = false;
    try {
      const result = await call();
      const entry = toEntry(result);
      const value = entry && JSON.stringify(entry);
      if (value !== undefined && Buffer.byteLength(value) <= opts.maxEntryBytes) {
        await store.put(keys, value, job.cache.ttlSeconds * 1000, token, opts.budget).then(
          () => (stored = true),
          (err: unknown) => opts.onError?.('cache put failed', err),
        );
      }
      return { result, use: 'miss' };
    } finally {
      if (lead && !stored)
        await store
          .release(keys, token)
          .catch((err: unknown) => opts.onError?.('cache release failed', err));
    }
  }
  return { through };
}

export type ResponseCache = ReturnType<typeof createResponseCache>;

function parseEntry(value: string): CachedResult | undefined {
  try {
    const e = JSON.parse(value) as CachedResult;
    return e !== null && typeof e === 'object' && 'body' in e && typeof e.headers === 'object'
      ? e
      : undefined;
  } catch {
    return undefined;
  }
}
