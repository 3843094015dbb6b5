/**
 * Graceful shutdown of the worker process under load: SIGTERM stops taking jobs and saves the
 * calls in flight before exiting 0; the drain is bounded by INVOKE_SHUTDOWN_TIMEOUT_MS (exit 1,
 * the unfinished jobs recovered by the next worker); a second SIGTERM/SIGINT exits at once.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type http from 'node:http';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startWorker, type WorkerProcess } from '../helpers/worker-process.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';
import { client, counts, expectSavedOnce, makeJobs, queueOn, workerEnv } from './fixtures.js';

let redis: RedisServer;
let up: Upstream;
let held: http.ServerResponse[] = [];
const started: WorkerProcess[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
  up = await startUpstream();
});
afterAll(async () => {
  for (const w of started) await w.stop(2000);
  await up.close();
  await redis.destroy();
});

/** A worker on its own prefix with `inFlight` calls held by the upstream and as many waiting. */
async function loaded(prefix: string, inFlight: number, env: Record<string, string> = {}) {
  held = [];
  up.handle((_r, res) => void held.push(res));
  const fullEnv = workerEnv(redis.url, {
    BULLMQ_PREFIX: prefix,
    INVOKE_EVENTS_STREAM: `${prefix}:events`,
    INVOKE_CONCURRENCY: String(inFlight),
    ...env,
  });
  const worker = await startWorker(fullEnv);
  started.push(worker);
  const conn = client(redis.url);
  const queue = queueOn(conn, prefix);
  const jobs = makeJobs(inFlight * 2, up.url, prefix);
  await queue.addBulk(jobs);
  await waitFor(async () => held.length >= inFlight || undefined, `${inFlight} calls in flight`);
  const done = async () => {
    await queue.close();
    conn.disconnect();
  };
  return { worker, queue, conn, jobs, fullEnv, done };
}

it('SIGTERM saves the calls in flight, takes no new job, exits 0', async () => {
  const { worker, queue, conn, jobs, done } = await loaded('{sd1}', 20);
  worker.signal('SIGTERM');
  await worker.waitForLog((l) => String(l.msg).startsWith('shutting down'), 'shutting down');
  for (const res of held) json(res, 200, { points: 3 });
  const { code } = await worker.exited;
  expect(code).toBe(0);
  expect(worker.hasLog((l) => l.msg === 'stopped' && l.drained === true)).toBe(true);
  expect(await counts(queue)).toMatchObject({ completed: 20, wait: 20, active: 0 });
  const finished = [];
  for (const j of jobs)
    if ((await queue.getJobState(j.opts.jobId)) === 'completed') finished.push(j);
  await expectSavedOnce(conn, finished, '{sd1}:events');
  expect(held).toHaveLength(20);
  await done();
}, 120_000);

it('bounds the drain: exits 1 after INVOKE_SHUTDOWN_TIMEOUT_MS, the next worker recovers the jobs', async () => {
  const env = {
    INVOKE_SHUTDOWN_TIMEOUT_MS: '1500',
    INVOKE_LOCK_DURATION_MS: '5000',
    INVOKE_STALLED_INTERVAL_MS: '1000',
  };
  const { worker, queue, conn, jobs, fullEnv, done } = await loaded('{sd2}', 20, env);
  const t0 = Date.now();
  worker.signal('SIGTERM');
  const { code } = await worker.exited;
  const tookMs = Date.now() - t0;
  expect(code).toBe(1);
  expect(tookMs).toBeGreaterThanOrEqual(1400);
  expect(tookMs).toBeLessThan(6000);
  expect(worker.hasLog((l) => l.msg === 'stopped' && l.drained === false)).toBe(true);

  up.handle((_r, res) => json(res, 200, { points: 4 }));
  started.push(await startWorker(fullEnv));
  await waitFor(
    async () => (await counts(queue)).completed === 40 || undefined,
    'all 40 jobs completed by the next worker',
    60_000,
  );
  await expectSavedOnce(conn, jobs, '{sd2}:events');
  console.log(
    `[shutdown] bounded drain exited after ${tookMs} ms (INVOKE_SHUTDOWN_TIMEOUT_MS=1500)`,
  );
  await done();
}, 180_000);

for (const second of ['SIGTERM', 'SIGINT'] as const) {
  it(`a second signal (${second}) exits at once while the drain waits`, async () => {
    const { worker, done } = await loaded(`{sd-${second}}`, 5, {
      INVOKE_SHUTDOWN_TIMEOUT_MS: '30000',
    });
    worker.signal('SIGTERM');
    await worker.waitForLog((l) => String(l.msg).startsWith('shutting down'), 'shutting down');
    const t0 = Date.now();
    worker.signal(second);
    const { code } = await worker.exited;
    expect(code).toBe(130);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(worker.hasLog((l) => l.msg === 'second signal: exiting now')).toBe(true);
    await done();
  }, 120_000);
}
