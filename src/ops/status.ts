/**
 * The queue at a glance: counts per state, throughput and failure rate over the last minutes
 * (BullMQ's per-minute metrics, recorded by the worker: create-worker.ts `metrics`), the age of
 * the oldest waiting job and the workers connected. A fixed, small number of Redis calls.
 */
import type { Metrics, Queue } from 'bullmq';
import type { RedisClient } from '../redis.js';
import { listDestinations, type HostStatus } from '../destinations/admin.js';

export const STATES = [
  'waiting',
  'active',
  'delayed',
  'prioritized',
  'waiting-children',
  'failed',
  'completed',
] as const;

export interface QueueStatus {
  queue: string;
  paused: boolean;
  counts: Record<string, number>;
  /** Over the last `minutes` whole minutes (BullMQ metrics, queue-wide). */
  recent: {
    minutes: number;
    completed: number;
    failed: number;
    perMinute: number;
    failureRate: number;
  };
  oldestWaitingAgeMs: number | null;
  workers: { name: string; addr: string; age: number }[];
  /** Destination hosts seen recently, with breaker state (src/destinations). */
  destinations: HostStatus[];
  /** Steps waiting for a partner's callback, and those held after CALLBACK_TIMEOUT (ops/waiting.ts). */
  callbacks?: { waiting: number; held: number };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const minute = (ms: number) => Math.floor(ms / 60_000);

/**
 * Jobs finished in the last `minutes` minutes from BullMQ's metrics (commands/includes/
 * collectMetrics.lua): the count since meta.prevTS is not yet a data point and belongs to
 * prevTS's minute; data[i] is the minute i+1 before that, newest first.
 */
export function recentCount(m: Metrics, minutes: number, now = Date.now()): number {
  if (!m.meta.prevTS) return 0;
  const lag = minute(now) - minute(m.meta.prevTS);
  if (lag >= minutes) return 0;
  return m.meta.count - m.meta.prevCount + sum(m.data.slice(0, minutes - 1 - lag));
}

/** The oldest job that is waiting (not delayed): the tail of the wait list, BullMQ's next pick. */
export async function oldestWaitingAgeMs(
  queue: Queue,
  client: RedisClient,
  now = Date.now(),
): Promise<number | null> {
  const id = await client.lindex(queue.toKey('wait'), -1);
  if (!id) return null;
  const ts = await client.hget(queue.toKey(id), 'timestamp');
  return ts === null ? null : Math.max(0, now - Number(ts));
}

export async function queueStatus(
  queue: Queue,
  client: RedisClient,
  minutes = 15,
): Promise<QueueStatus> {
  const [counts, paused, completed, failed, oldest, workers] = await Promise.all([
    queue.getJobCounts(...STATES),
    queue.isPaused(),
    queue.getMetrics('completed', 0, minutes - 1),
    queue.getMetrics('failed', 0, minutes - 1),
    oldestWaitingAgeMs(queue, client),
    queue.getWorkers().catch(() => [] as Record<string, string>[]),
  ]);
  const destinations = await listDestinations(client, queue.opts.prefix ?? 'bull').catch(
    () => [] as HostStatus[],
  );
  const now = Date.now();
  const done = recentCount(completed, minutes, now);
  const bad = recentCount(failed, minutes, now);
  return {
    queue: queue.name,
    paused,
    counts,
    recent: {
      minutes,
      completed: done,
      failed: bad,
      perMinute: (done + bad) / minutes,
      failureRate: done + bad === 0 ? 0 : bad / (done + bad),
    },
    oldestWaitingAgeMs: oldest,
    workers: workers.map((w) => ({
      name: w.name ?? '',
      addr: w.addr ?? '',
      age: Number(w.age ?? 0),
    })),
    destinations,
  };
}
