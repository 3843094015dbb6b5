/**
 * The operator data API (Sidekiq's API under its web UI and sidekiqmon): every operator question
 * and action, used by the CLI (cli/commands/*) and the HTTP routes (api/routes/ops.ts) alike,
 * so both surfaces always agree. Every read is bounded (see scan.ts, inspect.ts).
 */
import { Queue } from 'bullmq';
import type { Config } from '../config.js';
import { createRedis, type RedisClient, type RedisSettings } from '../redis.js';
import { createResultWriter } from '../store/result-writer.js';
import {
  GROUP_KEYS,
  groupValue,
  type Failure,
  type FailureFilter,
  type GroupKey,
} from './failure.js';
import { scanFailed } from './scan.js';
import { queueStatus, type QueueStatus } from './status.js';
import { inspectJob, type Inspection } from './inspect.js';
import { retryWithData, type RetryWithDataResult } from './retry-with-data.js';
import {
  cleanJobs,
  discardJobs,
  retryJobs,
  type ActionOptions,
  type ActionResult,
  type Target,
} from './actions.js';
import { createCallbacks, type CallbacksConfig } from '../callbacks/service.js';
import { retention, type RetentionConfig } from '../queue/job-options.js';
import { defaultJobOptions } from '../client/create-invoke-client.js';
import { createWaitingOps, type WaitingOps } from './waiting.js';
import { fairWaiting, type FairWaiting } from '../fair/report.js';
import { clearStepCache, type CacheCleared, type CacheTarget } from './cache.js';

export {
  GROUP_KEYS,
  parseDuration,
  type Failure,
  type FailureFilter,
  type GroupKey,
} from './failure.js';
export type {
  QueueStatus,
  Inspection,
  ActionResult,
  Target,
  CacheTarget,
  CacheCleared,
  RetryWithDataResult,
};
export { RetryRefusedError } from './retry-with-data.js';
export { OpsError, type OpsErrorKind } from './errors.js';
export { JobsNotFoundError, tenantScope } from './tenant-scope.js';
export type { WaitingList, WaitingStep, StepActions } from './waiting.js';

export interface FailedList {
  failures: Failure[];
  scanned: number;
  truncated: boolean;
}
export interface FailedGroups {
  by: GroupKey;
  groups: { key: string; count: number; example: string }[];
  total: number;
  scanned: number;
  truncated: boolean;
}

export interface Ops {
  queue: Queue;
  status(minutes?: number): Promise<QueueStatus>;
  /** Jobs waiting in the fair-share index per tenant, largest first (docs/fair-share.md). */
  byTenant(limit?: number): Promise<FairWaiting>;
  failed(filter: FailureFilter, limit?: number): Promise<FailedList>;
  groupFailed(filter: FailureFilter, by: GroupKey): Promise<FailedGroups>;
  /** With `tenant`, another tenant's job is undefined like an unknown id (tenant-scope.ts). */
  inspect(id: string, tenant?: string): Promise<Inspection | undefined>;
  retry(target: Target, opts?: ActionOptions): Promise<ActionResult>;
  /** Re-runs one failed or held job with corrected `data`, same idempotency key, on record. */
  retryWithData(
    id: string,
    data: unknown,
    opts: { by: string; dryRun?: boolean | undefined; tenant?: string | undefined },
  ): Promise<RetryWithDataResult>;
  discard(target: Target, opts?: ActionOptions): Promise<ActionResult>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  clean(state: 'completed' | 'failed', olderThanMs: number): Promise<number>;
  /** Steps waiting for a partner's callback (contract 6.5): list, complete, retry, discard. */
  waiting: WaitingOps;
  /** Drops one step's cached responses (docs/outcomes.md). */
  clearCache(target: CacheTarget): Promise<CacheCleared>;
  close(): Promise<void>;
}

/** The queue, context and event names come with CallbacksConfig. */
export type OpsConfig = RedisSettings &
  CallbacksConfig &
  RetentionConfig &
  Pick<Config, 'INVOKE_CACHE_PREFIX' | 'INVOKE_ATTEMPT_RECORDS'>;

/** Pass `redis` to share a connection (the HTTP server); otherwise the ops API owns its own. */
export function createOps(cfg: OpsConfig, shared?: RedisClient): Ops {
  const redis = shared ?? createRedis(cfg, 'ops');
  const queue = new Queue(cfg.INVOKE_QUEUE, { connection: redis, prefix: cfg.BULLMQ_PREFIX });
  // Without a listener BullMQ console.errors every connection error; outages show in /readyz and logs.
  queue.on('error', () => undefined);
  const writeResult = createResultWriter(redis, cfg);
  const waiting = createWaitingOps(createCallbacks(cfg, redis), queue, {
    ...defaultJobOptions(),
    ...retention(cfg),
  });

  return {
    queue,
    status: async (minutes) => ({
      ...(await queueStatus(queue, redis, minutes)),
      callbacks: await waiting.counts(),
    }),
    byTenant: (limit = 50) => fairWaiting(redis, cfg.BULLMQ_PREFIX, cfg.INVOKE_QUEUE, limit),
    failed: (filter, limit = 50) => scanFailed(queue, { filter, limit }),
    async groupFailed(filter, by) {
      const { failures, scanned, truncated } = await scanFailed(queue, { filter });
      const groups = new Map<string, { count: number; example: string }>();
      for (const f of failures) {
        const key = groupValue(f, by);
        const g = groups.get(key) ?? { count: 0, example: f.id };
        g.count++;
        groups.set(key, g);
      }
      const sorted = [...groups]
        .map(([key, g]) => ({ key, ...g }))
        .sort((a, b) => b.count - a.count || a.key.localeCompare(b.key));
      return { by, groups: sorted, total: failures.length, scanned, truncated };
    },
    inspect: (id, tenant) => inspectJob(queue, redis, cfg, id, tenant),
    retry: (target, opts) => retryJobs(queue, target, opts),
    retryWithData: (id, data, opts) =>
      retryWithData(queue, redis, id, data, { ...opts, keepRecords: cfg.INVOKE_ATTEMPT_RECORDS }),
    discard: (target, opts) => discardJobs(queue, writeResult, target, opts),
    pause: () => queue.pause(),
    resume: () => queue.resume(),
    clean: (state, olderThanMs) => cleanJobs(queue, state, olderThanMs),
    waiting,
    clearCache: (target) => clearStepCache(redis, cfg.INVOKE_CACHE_PREFIX, target),
    async close() {
      await queue.close();
      if (!shared) await redis.quit().catch(() => redis.disconnect());
    },
  };
}

export const isGroupKey = (s: string): s is GroupKey =>
  (GROUP_KEYS as readonly string[]).includes(s);
