/**
 * A fair-share backlog through crashes: jobs of three tenants (one a blast over two journeys,
 * one without tenantId) enqueued through the client wait in the fair index while two worker
 * processes drain it. One worker is killed with -9, then Redis (AOF, appendfsync always) is
 * killed with -9 and started again, and a replacement worker starts. Every idempotency key ends
 * with exactly one saved envelope and its event(s), nothing fails, nothing is left in the index,
 * in BullMQ's lists or in the far delay.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createInvokeClient } from '../../src/client/create-invoke-client.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startWorker, isCrashLog, type WorkerProcess } from '../helpers/worker-process.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';
import { jobData } from '../helpers/harness.js';
import { client, counts, expectSavedOnce, queueOn, workerEnv } from './fixtures.js';

let redis: RedisServer;
let up: Upstream;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  redis = await startRedisServer({ aof: true });
  up = await startUpstream((_r, res) => void setTimeout(() => json(res, 200, { points: 1 }), 20));
});
afterAll(async () => {
  for (const w of workers) await w.stop(3000);
  await up.close();
  await redis.destroy();
});

function backlog(url: string) {
  const make = (tenantId: string | undefined, journeyId: string, n: number) =>
    Array.from({ length: n }, (_, i) =>
      jobData({
        journeyId,
        runId: `${tenantId ?? 'none'}-${journeyId}-${i}`,
        ...(tenantId ? { tenantId } : {}),
        request: { url: `${url}/${tenantId ?? 'none'}/${journeyId}/${i}` },
      }),
    );
  return [
    ...make('blast', 'promo', 1200),
    ...make('blast', 'welcome', 200),
    ...make('shop', 'orders', 300),
    ...make(undefined, 'v1', 200),
  ];
}

it('loses and duplicates nothing of a fair backlog across kill -9 of a worker and of Redis', async () => {
  const env = workerEnv(redis.url, {
    INVOKE_CONCURRENCY: '20',
    INVOKE_LOCK_DURATION_MS: '8000',
    INVOKE_STALLED_INTERVAL_MS: '1000',
  });
  workers.push(await startWorker(env), await startWorker(env));
  const conn = client(redis.url);
  const queue = queueOn(conn);
  const producer = createInvokeClient({ connection: client(redis.url), onError: () => undefined });
  const data = backlog(up.url);
  const ids = (await producer.enqueueMany(data)).map((r) => r.jobId);
  const total = data.length;
  await waitFor(
    async () => (await counts(queue)).completed >= 300 || undefined,
    '300 jobs completed',
    60_000,
  );

  workers[0]!.signal('SIGKILL');
  expect((await workers[0]!.exited).signal).toBe('SIGKILL');
  await waitFor(
    async () => (await counts(queue)).completed >= 600 || undefined,
    '600 jobs completed',
    60_000,
  );
  await redis.stop('SIGKILL');
  await redis.start();
  workers.push(await startWorker(env));

  await waitFor(
    async () => (await counts(queue)).completed === total || undefined,
    `all ${total} completed`,
    150_000,
  );
  expect(await counts(queue)).toMatchObject({
    wait: 0,
    active: 0,
    delayed: 0,
    failed: 0,
    completed: total,
  });
  const jobs = data.map((d, i) => ({ data: d, opts: { jobId: ids[i]! } }));
  const { duplicates } = await expectSavedOnce(conn, jobs);
  expect(await conn.hgetall('bull:invoke-api:fair:counts')).toEqual({});
  expect(await conn.keys('bull:invoke-api:fair:[qj]:*')).toEqual([]);
  expect(await conn.zcard('bull:invoke-api:fair:tenants')).toBe(0);
  for (const w of workers.slice(1)) expect(w.logs.filter(isCrashLog)).toEqual([]);
  console.log(
    `[fair-backlog] ${total} jobs completed; keys with a duplicate event: ${duplicates}; upstream requests: ${up.requests.length}`,
  );
  await producer.close();
  await (producer.queue.opts.connection as { quit(): Promise<unknown> }).quit();
  await queue.close();
  conn.disconnect();
}, 240_000);
