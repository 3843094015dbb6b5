/**
 * `cache clear`: drop one step's cached results (all tenants, or one), e.g. after the partner
 * fixed data the cache still serves. Walks the cache's index with ZSCAN over the step's key
 * pattern (keys.ts) and forgets what it finds in batches, so a step with a million entries
 * never blocks Redis in one command. Running it twice is safe: the second finds nothing.
 * A job leading a call for the step at that moment may still store its result afterwards.
 */
import type { RedisClient } from '../redis.js';
import { bookKeys, stepPattern } from '../cache/keys.js';
import { createCacheStore } from '../cache/store.js';

export interface CacheTarget {
  journeyId: string;
  stepId: string;
  tenantId?: string | undefined;
}
export interface CacheCleared {
  journeyId: string;
  stepId: string;
  tenantId: string | null;
  removed: number;
}

const BATCH = 500;

export async function clearStepCache(
  redis: RedisClient,
  prefix: string,
  target: CacheTarget,
): Promise<CacheCleared> {
  const store = createCacheStore(redis, prefix);
  const { idx } = bookKeys(prefix);
  const pattern = stepPattern(prefix, target.journeyId, target.stepId, target.tenantId);
  let cursor = '0';
  let removed = 0;
  do {
    const [next, flat] = await redis.zscan(idx, cursor, 'MATCH', pattern, 'COUNT', BATCH);
    cursor = next;
    // ZSCAN replies member, score, member, score ...; a member may come twice across a rehash.
    const members = [...new Set(flat.filter((_, i) => i % 2 === 0))];
    removed += await store.forget(members);
  } while (cursor !== '0');
  return {
    journeyId: target.journeyId,
    stepId: target.stepId,
    tenantId: target.tenantId ?? null,
    removed,
  };
}
