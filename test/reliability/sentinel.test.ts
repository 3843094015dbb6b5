/**
 * Redis Sentinel failover while jobs run: a password-protected master and replica watched by a
 * Sentinel; the worker connects through REDIS_SENTINELS (password from REDIS_URL). A forced
 * failover promotes the replica; the worker follows it and every job completes, saved once.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startRedisSentinel, type RedisSentinelSetup } from '../helpers/redis-server.js';
import { startWorker, isCrashLog, type WorkerProcess } from '../helpers/worker-process.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';
import { counts, expectSavedOnce, makeJobs, queueOn, workerEnv } from './fixtures.js';

const PASSWORD = 'sentinel-pass-1';
let setup: RedisSentinelSetup;
let up: Upstream;
let worker: WorkerProcess | undefined;

beforeAll(async () => {
  setup = await startRedisSentinel({ password: PASSWORD });
  up = await startUpstream((_r, res) => void setTimeout(() => json(res, 200, { points: 2 }), 50));
}, 60_000);
afterAll(async () => {
  await worker?.stop(3000);
  await up.close();
  await setup.destroy();
});

it('follows a Sentinel failover mid-run: no job lost, none failed', async () => {
  worker = await startWorker(
    workerEnv(`redis://:${PASSWORD}@sentinel-managed:6379`, {
      REDIS_SENTINELS: setup.sentinels,
      REDIS_SENTINEL_NAME: 'mymaster',
      INVOKE_CONCURRENCY: '5',
      INVOKE_LOCK_DURATION_MS: '5000',
      INVOKE_STALLED_INTERVAL_MS: '1000',
    }),
  );
  const conn = new Redis({
    sentinels: [{ host: '127.0.0.1', port: setup.sentinel.port }],
    name: 'mymaster',
    password: PASSWORD,
    maxRetriesPerRequest: null,
  });
  const queue = queueOn(conn);
  const jobs = makeJobs(200, up.url, 'sent');
  await queue.addBulk(jobs);
  await waitFor(
    async () => (await counts(queue)).completed >= 30 || undefined,
    '30 jobs completed',
  );

  const sentinel = new Redis(setup.sentinel.port, '127.0.0.1');
  await sentinel.call('SENTINEL', 'FAILOVER', 'mymaster');
  await waitFor(async () => {
    const addr = (await sentinel.call(
      'SENTINEL',
      'GET-MASTER-ADDR-BY-NAME',
      'mymaster',
    )) as string[];
    return Number(addr[1]) === setup.replica.port || undefined;
  }, 'the replica to be promoted');
  sentinel.disconnect();
  const atPromotion = (await counts(queue)).completed;
  expect(atPromotion, 'jobs still running when the replica took over').toBeLessThan(200);

  // The truth is on the promoted replica: read it there, not through a client that may lag.
  const promotedAt = Date.now();
  const promotedQ = queueOn(
    new Redis(setup.replica.port, '127.0.0.1', { password: PASSWORD, maxRetriesPerRequest: null }),
  );
  const seen: string[] = [];
  await waitFor(
    async () => {
      const c = await counts(promotedQ);
      seen.push(JSON.stringify(c));
      return c.completed === 200 || undefined;
    },
    'all 200 jobs completed on the promoted master',
    60_000,
  ).catch((e) => {
    console.log(seen.filter((_, i) => i % 20 === 0).join('\n'));
    console.log(JSON.stringify(worker!.logs.filter((l) => l.msg !== 'attempt').slice(0, 20)));
    throw e;
  });
  const afterPromotionMs = Date.now() - promotedAt;
  await waitFor(
    async () => (await counts(queue)).completed === 200 || undefined,
    'all 200 jobs completed',
    90_000,
  );
  expect(await counts(queue)).toMatchObject({
    wait: 0,
    active: 0,
    delayed: 0,
    failed: 0,
    completed: 200,
  });
  const { duplicates } = await expectSavedOnce(conn, jobs);
  // The data is on the promoted replica, which is a master now.
  const promoted = new Redis(setup.replica.port, '127.0.0.1', { password: PASSWORD });
  expect(((await promoted.call('ROLE')) as unknown[])[0]).toBe('master');
  expect(await promoted.zcard('bull:invoke-api:completed')).toBe(200);
  promoted.disconnect();
  await promotedQ.close();
  (promotedQ.opts.connection as Redis).disconnect();

  expect(worker.logs.filter(isCrashLog)).toEqual([]);
  const errors = worker.logs
    .filter((l) => l.msg === 'worker error')
    .map((l) => (l.err as { message?: string })?.message);
  const reconnects = worker.logs.filter((l) => l.msg === 'redis connection restored').length;
  console.log(
    `[sentinel] failover with ${200 - atPromotion} jobs left: all 200 completed on the new master ${afterPromotionMs} ms after promotion; reconnects logged: ${reconnects}; keys with a duplicate event: ${duplicates}; worker errors: ${JSON.stringify(errors.slice(0, 5))} (${errors.length})`,
  );
  await queue.close();
  conn.disconnect();
}, 180_000);
