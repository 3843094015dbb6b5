/**
 * Run ownership: which tenant a run's saved context belongs to (contract v1.1 section 6.1: a
 * tenant's step never reads another tenant's saved context). The first tenant job of a run
 * claims it; the claim lives beside the context hash, `<INVOKE_CTX_PREFIX>:{<runId>}:tenant`
 * (same hash slot), with the context's TTL, refreshed by each of the owner's jobs. A job of
 * another tenant on that run fails with INVALID_JOB before anything is read or written, and
 * the dry run reads a run's context only for the tenant that owns it (runs with no owner only
 * for requests without tenantId). Jobs without tenantId neither claim nor check (v1).
 */
import { contextKey } from '../store/context.js';
import type { RedisClient } from '../redis.js';

export const ownerKey = (ctxPrefix: string, runId: string) =>
  `${contextKey(ctxPrefix, runId)}:tenant`;

// Claim when free, refresh when ours; returns the owner either way.
const CLAIM = `local o = redis.call('GET', KEYS[1])
if not o then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) return ARGV[1] end
if o == ARGV[1] then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return o`;

type ClaimClient = { invokeClaimRun(key: string, tenant: string, ttl: number): Promise<string> };
const defined = new WeakSet<object>();

export function createRunOwnership(redis: RedisClient, ctxPrefix: string, ttlSeconds: number) {
  if (!defined.has(redis)) {
    redis.defineCommand('invokeClaimRun', { numberOfKeys: 1, lua: CLAIM });
    defined.add(redis);
  }
  return {
    /** Claims the run for tenantId if unclaimed; returns its owner (tenantId when ours). */
    claim(runId: string, tenantId: string): Promise<string> {
      return (redis as unknown as ClaimClient).invokeClaimRun(
        ownerKey(ctxPrefix, runId),
        tenantId,
        ttlSeconds,
      );
    },
    /** The owner, or undefined for a run no tenant job has touched. */
    async owner(runId: string): Promise<string | undefined> {
      return (await redis.get(ownerKey(ctxPrefix, runId))) ?? undefined;
    },
  };
}

export type RunOwnership = ReturnType<typeof createRunOwnership>;
