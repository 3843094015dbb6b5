/**
 * Typed calls into the fair-share scripts (scripts.ts) and their key layout. The index lives
 * beside the queue's BullMQ keys (`<prefix>:<queue>:fair:...`), so on Redis Cluster a
 * hash-tagged prefix ({bull}) keeps every key a script touches in one slot.
 */
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from '../redis.js';
import { ADMIT, BEAT, HOLD, INTAKE } from './scripts.js';

/** Most jobs one admission call moves (bounds the time Redis spends in one script). */
export const MAX_MOVES = 1000;

export interface FairKeys {
  base: string;
  jobPrefix: string;
  /** KEYS of admit and intake, in the scripts' order. */
  admit: string[];
  workers: string;
  counts: string;
}

export function fairKeys(prefix: string, queue: string): FairKeys {
  const q = `${prefix}:${queue}:`;
  const base = `${q}fair`;
  const bull = ['delayed', 'wait', 'prioritized', 'pc', 'meta', 'active', 'events', 'marker'];
  const own = ['tenants', 'parked', 'state', 'counts', 'weights'].map((k) => `${base}:${k}`);
  return {
    base,
    jobPrefix: q,
    admit: [...own, ...bull.map((k) => q + k)],
    workers: `${base}:workers`,
    counts: `${base}:counts`,
  };
}

type Fn = (...args: (string | number)[]) => Promise<unknown>;
type Names = 'fairAdmit' | 'fairIntake' | 'fairHold' | 'fairBeat';

/** Registers the scripts once per connection (ioredis sends EVALSHA, falling back to EVAL). */
export function defineFairCommands(redis: RedisClient): void {
  const r = redis as unknown as Record<string, unknown> & {
    defineCommand(n: string, d: { numberOfKeys: number; lua: string }): void;
  };
  if (typeof r.fairAdmit === 'function') return;
  r.defineCommand('fairAdmit', { numberOfKeys: 13, lua: ADMIT });
  r.defineCommand('fairIntake', { numberOfKeys: 13, lua: INTAKE });
  r.defineCommand('fairHold', { numberOfKeys: 3, lua: HOLD });
  r.defineCommand('fairBeat', { numberOfKeys: 2, lua: BEAT });
}

/** The name the empty tenant (jobs without tenantId) has in the index and in reports. */
export const tenantOf = (tenantId: string | undefined) => tenantId ?? '';

/** Queues the index entry of one job on a MULTI that adds the job just before. */
export function queueIntake(
  multi: ChainableCommander,
  keys: FairKeys,
  job: { tenantId?: string | undefined; journeyId: string },
  jobId: string,
): void {
  const m = multi as unknown as Record<Names, (...a: (string | number)[]) => unknown>;
  m.fairIntake(
    ...keys.admit,
    keys.base,
    keys.jobPrefix,
    MAX_MOVES,
    tenantOf(job.tenantId),
    job.journeyId,
    jobId,
  );
}

export function createFairStore(redis: RedisClient, prefix: string, queue: string) {
  defineFairCommands(redis);
  const cmd = redis as unknown as Record<Names, Fn>;
  const keys = fairKeys(prefix, queue);
  const [tenants, parked, state, , weights] = keys.admit as [
    string,
    string,
    string,
    string,
    string,
  ];

  return {
    keys,
    /** Moves jobs into the wait list up to the window; `backlog`: tenants still waiting. */
    async admit(): Promise<{ moved: number; backlog: number }> {
      const [moved, backlog] = (await cmd.fairAdmit(
        ...keys.admit,
        keys.base,
        keys.jobPrefix,
        MAX_MOVES,
      )) as number[];
      return { moved: moved ?? 0, backlog: backlog ?? 0 };
    },
    /** Takes the tenant out of the rotation for ms (its limit has no room). */
    async hold(tenant: string, ms: number): Promise<void> {
      await cmd.fairHold(tenants, parked, state, tenant, Math.max(1, Math.ceil(ms)));
    },
    /** Registers this worker's slots (0: leaving); returns the window now in force. */
    async beat(workerId: string, slots: number, ttlMs: number, fraction: number): Promise<number> {
      const [, window] = (await cmd.fairBeat(
        keys.workers,
        state,
        workerId,
        slots,
        ttlMs,
        fraction,
      )) as number[];
      return window ?? 0;
    },
    /** Weights other than the default; every worker writes the same (INVOKE_TENANTS). */
    async setWeights(defaultWeight: number, own: [string, number][]): Promise<void> {
      const multi = redis.multi().del(weights).hset(state, 'dw', defaultWeight);
      if (own.length) multi.hset(weights, Object.fromEntries(own));
      await multi.exec();
    },
    /** Jobs in the index per tenant ('' = jobs without tenantId). */
    async waitingByTenant(): Promise<Record<string, number>> {
      const raw = await redis.hgetall(keys.counts);
      return Object.fromEntries(Object.entries(raw).map(([t, n]) => [t, Number(n)]));
    },
  };
}

export type FairStore = ReturnType<typeof createFairStore>;
