/**
 * The BullMQ Worker with our options: concurrency, lock/stalled timings tuned so a crashed
 * worker's jobs are recovered in seconds (docs/guarantees.md), bounded retention (BullMQ keeps
 * finished jobs forever otherwise), and our backoff types.
 */
import { Worker, type Job } from 'bullmq';
import type { Config } from '../config.js';
import type { RedisClient } from '../redis.js';
import { createBackoffStrategy } from '../queue/backoff.js';
import { retention, type RetentionConfig } from '../queue/job-options.js';
import type { Processor } from './processor.js';

export const METRICS_MINUTES = 7 * 24 * 60;

export type WorkerConfig = RetentionConfig &
  Pick<
    Config,
    | 'INVOKE_QUEUE'
    | 'BULLMQ_PREFIX'
    | 'INVOKE_CONCURRENCY'
    | 'INVOKE_LOCK_DURATION_MS'
    | 'INVOKE_STALLED_INTERVAL_MS'
    | 'INVOKE_BACKOFF_MAX_MS'
  >;

export function createWorker(
  cfg: WorkerConfig,
  connection: RedisClient,
  processor: Processor,
  opts: { autorun?: boolean } = {},
): Worker {
  const worker = new Worker(cfg.INVOKE_QUEUE, (job: Job, token?: string) => processor(job, token), {
    connection,
    prefix: cfg.BULLMQ_PREFIX,
    concurrency: cfg.INVOKE_CONCURRENCY,
    lockDuration: cfg.INVOKE_LOCK_DURATION_MS,
    stalledInterval: cfg.INVOKE_STALLED_INTERVAL_MS,
    // Two stalls before failing: one crash must never cost a customer their step.
    maxStalledCount: 2,
    autorun: opts.autorun ?? true,
    // Per-minute completed/failed counts for `invoke-api status` (queue.getMetrics); one week.
    metrics: { maxDataPoints: METRICS_MINUTES },
    settings: { backoffStrategy: createBackoffStrategy(cfg.INVOKE_BACKOFF_MAX_MS) },
    ...retention(cfg),
  });
  return worker;
}
