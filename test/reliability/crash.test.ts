/**
 * kill -9 of a worker with 200 calls in flight, then a restart: BullMQ's stalled-job check
 * hands every job to the new worker; each idempotency key ends with one saved envelope and at
 * least one event (duplicates only for a call whose result was written just before the kill).
 *
 * Lock 8 s / stalled check 1 s make recovery take seconds; production defaults (15 s / 5 s)
 * trade slower recovery for fewer false stalls on a busy event loop (docs/guarantees.md).
 * Shorter locks were tried: with 2 s (load average 10 on 2 cores) and 5 s (load average 29) the
 * restarted worker lost locks of jobs it was still running (locks are renewed from the event
 * loop), so many calls ran twice; still correct, but a job stalling three times would fail.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type http from 'node:http';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startWorker, isCrashLog, type WorkerProcess } from '../helpers/worker-process.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';
import { client, counts, expectSavedOnce, makeJobs, queueOn, workerEnv } from './fixtures.js';

const N = 200;
let redis: RedisServer;
let up: Upstream;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
  up = await startUpstream();
});
afterAll(async () => {
  for (const w of workers) await w.stop(2000);
  await up.close();
  await redis.destroy();
});

it('recovers every in-flight job after kill -9, each key saved once', async () => {
  const held: http.ServerResponse[] = [];
  up.handle((_r, res) => void held.push(res));
  const env = workerEnv(redis.url, {
    INVOKE_CONCURRENCY: String(N),
    INVOKE_LOCK_DURATION_MS: '8000',
    INVOKE_STALLED_INTERVAL_MS: '1000',
  });
  const first = await startWorker(env);
  workers.push(first);
  const conn = client(redis.url);
  const queue = queueOn(conn);
  const jobs = makeJobs(N, up.url, 'crash');
  await queue.addBulk(jobs);
  await waitFor(async () => held.length >= N, `${N} calls in flight`, 60_000);

  // Answer a few and kill as soon as one result is saved: some of those are written but their
  // jobs not yet completed, so they run again and emit a second event with the same eventId.
  for (const res of held.slice(0, 10)) json(res, 200, { early: true });
  await waitFor(
    async () => (await conn.keys('journey:ctx:*')).length > 0 || undefined,
    'a result saved',
  );
  const killedAt = Date.now();
  first.signal('SIGKILL');
  expect((await first.exited).signal).toBe('SIGKILL');
  expect((await counts(queue)).active).toBeGreaterThan(0);

  up.handle((_r, res) => json(res, 200, { points: 1 }));
  const restartedAt = Date.now();
  const second = await startWorker(env);
  workers.push(second);
  await waitFor(
    async () => (await counts(queue)).completed === N || undefined,
    `all ${N} jobs completed`,
    90_000,
  );
  const recoveryMs = Date.now() - restartedAt;
  const sinceKillMs = Date.now() - killedAt;

  const { duplicates } = await expectSavedOnce(conn, jobs);
  expect(await counts(queue)).toMatchObject({
    wait: 0,
    active: 0,
    delayed: 0,
    failed: 0,
    completed: N,
  });
  expect(second.logs.filter(isCrashLog)).toEqual([]);
  console.log(
    `[crash] ${N} jobs all completed ${recoveryMs} ms after restart (${sinceKillMs} ms after the kill); keys with a duplicate event: ${duplicates}; upstream requests: ${up.requests.length}`,
  );
  await queue.close();
  conn.disconnect();
}, 180_000);
