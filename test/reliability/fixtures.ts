/**
 * Shared pieces of the reliability tests: the worker's environment, a Queue on a private Redis,
 * jobs keyed by their idempotency key (as the client derives jobId), and a reader that checks
 * what the worker saved and emitted for every key.
 */
import { Queue, type ConnectionOptions } from 'bullmq';
import { Redis, type Cluster } from 'ioredis';
import { expect } from 'vitest';
import { envelopeSchema } from '../../src/contract/envelope.js';
import { idempotencyKey } from '../../src/contract/idempotency.js';
import { parseEventFields } from '../../src/events/continuation.js';
import { jobData } from '../helpers/harness.js';

export const CTX_PREFIX = 'journey:ctx';
export const STREAM = 'journey:continuations';

/** Worker env: loopback upstream allowed, no HTTP server unless a test asks for one. */
export function workerEnv(
  redisUrl: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    REDIS_URL: redisUrl,
    INVOKE_API_ENABLED: 'false',
    INVOKE_ALLOW_PRIVATE: '127.0.0.1/32',
    INVOKE_CONCURRENCY: '50',
    ...extra,
  };
}

export const client = (url: string) => new Redis(url, { maxRetriesPerRequest: null });

export function queueOn(connection: ConnectionOptions, prefix = 'bull'): Queue {
  const queue = new Queue('invoke-api', { connection, prefix });
  queue.on('error', () => undefined); // the test's own connection sees the outage too
  return queue;
}

/** n valid jobs calling `url`, each with a unique run and its idempotency key as jobId. */
export function makeJobs(n: number, url: string, label = 'r') {
  return Array.from({ length: n }, (_, i) => {
    const data = jobData({
      runId: `${label}-${i}-${Math.random().toString(36).slice(2, 8)}`,
      request: { url: `${url}/call/${i}` },
    });
    return {
      name: 'invoke',
      data,
      opts: { jobId: idempotencyKey(data), attempts: 5, backoff: { type: 'fixed', delay: 100 } },
    };
  });
}

const STATES = [
  'wait',
  'active',
  'delayed',
  'completed',
  'failed',
  'prioritized',
  'waiting-children',
] as const;
export async function counts(queue: Queue): Promise<Record<(typeof STATES)[number], number>> {
  const c = await queue.getJobCounts(...STATES);
  return Object.fromEntries(STATES.map((s) => [s, c[s] ?? 0])) as Record<
    (typeof STATES)[number],
    number
  >;
}

export async function readEvents(
  redis: Redis | Cluster,
  stream = STREAM,
): Promise<Record<string, string>[]> {
  const entries = await redis.xrange(stream, '-', '+');
  return entries.map(([, fields]) => parseEventFields(fields));
}

/**
 * The at-least-once contract for a set of jobs: each key has exactly one saved envelope (valid,
 * carrying the key as eventId) and at least one event, every event of a key has that eventId,
 * and no event belongs to an unknown key. Returns how many keys got more than one event.
 */
export async function expectSavedOnce(
  redis: Redis | Cluster,
  jobs: { data: { runId: string }; opts: { jobId: string } }[],
  stream = STREAM,
): Promise<{ duplicates: number }> {
  const variable = 'loyalty';
  const events = await readEvents(redis, stream);
  const byKey = new Map<string, Record<string, string>[]>();
  for (const e of events) byKey.set(e.eventId!, [...(byKey.get(e.eventId!) ?? []), e]);
  let duplicates = 0;
  for (const { data, opts } of jobs) {
    const saved = await redis.hgetall(`${CTX_PREFIX}:{${data.runId}}`);
    expect(Object.keys(saved), `saved fields of ${opts.jobId}`).toEqual([variable]);
    const envelope = envelopeSchema.parse(JSON.parse(saved[variable]!));
    expect(envelope.eventId).toBe(opts.jobId);
    const mine = byKey.get(opts.jobId) ?? [];
    expect(mine.length, `events of ${opts.jobId}`).toBeGreaterThanOrEqual(1);
    for (const e of mine)
      expect(e).toMatchObject({ eventId: opts.jobId, runId: data.runId, jobId: opts.jobId });
    if (mine.length > 1) duplicates++;
    byKey.delete(opts.jobId);
  }
  expect([...byKey.keys()], 'events for unknown keys').toEqual([]);
  return { duplicates };
}
