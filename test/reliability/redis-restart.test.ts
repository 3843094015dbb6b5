/**
 * Redis (AOF, appendfsync always) killed with -9 and started again while jobs run: the worker
 * process survives, reconnects by itself, says so in its logs and in /readyz (503 during the
 * outage), and every job, enqueued before or after the outage, ends completed and saved.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startWorker, isCrashLog, type WorkerProcess } from '../helpers/worker-process.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';
import { client, counts, expectSavedOnce, makeJobs, queueOn, workerEnv } from './fixtures.js';

let redis: RedisServer;
let up: Upstream;
let worker: WorkerProcess | undefined;

beforeAll(async () => {
  redis = await startRedisServer({ aof: true });
  // A little latency so jobs are still running when Redis goes away.
  up = await startUpstream((_r, res) => void setTimeout(() => json(res, 200, { points: 1 }), 50));
});
afterAll(async () => {
  await worker?.stop(3000);
  await up.close();
  await redis.destroy();
});

const readyz = async (port: number) => {
  try {
    return (await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(3000) }))
      .status;
  } catch {
    return 0;
  }
};

it('survives a Redis restart mid-run: reconnects, reports the outage, loses no job', async () => {
  const port = await freePort();
  worker = await startWorker(
    workerEnv(redis.url, {
      INVOKE_API_ENABLED: 'true',
      PORT: String(port),
      INVOKE_CONCURRENCY: '10',
    }),
    { waitFor: 'worker started' },
  );
  expect(await readyz(port)).toBe(200);
  const conn = client(redis.url);
  const queue = queueOn(conn);
  const before = makeJobs(200, up.url, 'before');
  await queue.addBulk(before);
  await waitFor(
    async () => (await counts(queue)).completed >= 20 || undefined,
    '20 jobs completed',
  );

  await redis.stop('SIGKILL');
  await waitFor(
    async () => (await readyz(port)) === 503 || undefined,
    '/readyz 503 during the outage',
  );
  await worker.waitForLog((l) => l.msg === 'redis connection lost; reconnecting', 'outage logged');
  await redis.start();
  await waitFor(
    async () => (await readyz(port)) === 200 || undefined,
    '/readyz 200 after the restart',
  );
  await worker.waitForLog((l) => l.msg === 'redis connection restored', 'recovery logged');

  const after = makeJobs(50, up.url, 'after');
  await queue.addBulk(after);
  await waitFor(
    async () => (await counts(queue)).completed === 250 || undefined,
    'all 250 jobs completed',
    60_000,
  );
  expect(await counts(queue)).toMatchObject({
    wait: 0,
    active: 0,
    delayed: 0,
    failed: 0,
    completed: 250,
  });
  const { duplicates } = await expectSavedOnce(conn, [...before, ...after]);
  expect(worker.proc.exitCode).toBeNull();
  expect(worker.logs.filter(isCrashLog)).toEqual([]);
  expect(worker.stderr()).not.toMatch(/unhandled|uncaught|Error:/i);
  const restored = worker.logs
    .filter((l) => l.msg === 'redis connection restored')
    .map((l) => l.outageMs);
  console.log(
    `[redis-restart] outage per connection (ms): ${restored.join(', ')}; keys with a duplicate event: ${duplicates}; worker error lines: ${worker.logs.filter((l) => l.msg === 'worker error').length}`,
  );
  await queue.close();
  conn.disconnect();
}, 180_000);
