/**
 * Waiting steps live in Redis only: the worker process (worker + callback route) killed with
 * -9 and Redis (AOF, appendfsync always) killed with -9 and restarted while steps wait. A new
 * worker completes the waiting steps from their callbacks, and the steps whose deadline passed
 * during the outage time out within seconds of its start: each step ends exactly once.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startWorker, isCrashLog, type WorkerProcess } from '../helpers/worker-process.js';
import { startCallbackPartner, type Upstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';
import { jobData } from '../helpers/harness.js';
import { idempotencyKey } from '../../src/contract/idempotency.js';
import { client, counts, queueOn, readEvents, workerEnv } from '../reliability/fixtures.js';

let redis: RedisServer;
let up: Upstream;
let workers: WorkerProcess[] = [];
let paths: Map<string, string>;

beforeAll(async () => {
  redis = await startRedisServer({ aof: true });
  ({ up, paths } = await startCallbackPartner());
});
afterAll(async () => {
  for (const w of workers) await w.stop(3000);
  await up.close();
  await redis.destroy();
});

function waitingJobs(n: number, label: string, timeoutMs: number) {
  return Array.from({ length: n }, (_, i) => {
    const data = jobData({
      runId: `${label}-${i}-${randomBytes(3).toString('hex')}`,
      request: {
        method: 'POST',
        url: `${up.url}/orders`,
        body: { runId: '{{ run.id }}', callbackUrl: '{{ callback.url }}' },
      },
      wait: { callback: true, timeoutMs },
    });
    return { name: 'invoke', data, opts: { jobId: idempotencyKey(data), attempts: 3 } };
  });
}

it('waiting steps survive a worker kill -9 and a Redis kill -9 + AOF restart', async () => {
  const port = await freePort();
  const env = workerEnv(redis.url, {
    INVOKE_API_ENABLED: 'true',
    PORT: String(port),
    INVOKE_PUBLIC_URL: `http://127.0.0.1:${port}`,
    INVOKE_CALLBACK_KEY: randomBytes(32).toString('base64'),
    INVOKE_CALLBACK_SWEEP_MS: '200',
  });
  workers.push(await startWorker(env));
  const conn = client(redis.url);
  const queue = queueOn(conn);
  const later = waitingJobs(20, 'later', 10 * 60_000);
  const short = waitingJobs(5, 'short', 4000);
  await queue.addBulk([...later, ...short]);
  await waitFor(
    async () => (await counts(queue)).completed === 25 || undefined,
    'all 25 calls made and waiting',
    30_000,
  );
  expect(await readEvents(conn)).toEqual([]);

  workers[0]!.signal('SIGKILL');
  await workers[0]!.exited;
  await redis.stop('SIGKILL');
  await redis.start();
  // Let the short steps' deadlines pass while no worker runs.
  const deadlines = await Promise.all(
    short.map(async (j) => Number(await conn.hget(`bull:invoke-api:cb:${j.opts.jobId}`, 'dl'))),
  );
  await waitFor(
    async () => Date.now() > Math.max(...deadlines) || undefined,
    'the short deadlines to pass',
    10_000,
  );

  const restartedAt = Date.now();
  workers.push(await startWorker(env));
  await waitFor(
    async () =>
      (await readEvents(conn)).filter((e) => e.errorCode === 'CALLBACK_TIMEOUT').length === 5 ||
      undefined,
    'five timeouts',
    15_000,
  );
  const timeoutLagMs = Date.now() - restartedAt;

  const answers = await Promise.all(
    later.map((j) =>
      fetch(`http://127.0.0.1:${port}${paths.get(j.data.runId)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ verdict: 'ok', run: j.data.runId }),
      }).then((r) => r.status),
    ),
  );
  expect(answers).toEqual(later.map(() => 202));

  const events = await readEvents(conn);
  expect(events).toHaveLength(25);
  expect(new Set(events.map((e) => e.eventId)).size).toBe(25);
  for (const j of later)
    expect(events.find((e) => e.runId === j.data.runId)).toMatchObject({
      type: 'invoke.completed',
    });
  for (const j of short)
    expect(events.find((e) => e.runId === j.data.runId)).toMatchObject({
      type: 'invoke.failed',
      errorCode: 'CALLBACK_TIMEOUT',
    });
  const saved = JSON.parse((await conn.hget(`journey:ctx:{${later[0]!.data.runId}}`, 'loyalty'))!);
  expect(saved).toMatchObject({
    ok: true,
    body: { verdict: 'ok' },
    callback: { at: expect.any(String) },
  });
  expect(up.requests).toHaveLength(25); // no step called twice
  expect(workers[1]!.logs.filter(isCrashLog)).toEqual([]);
  console.log(
    `[callbacks restart] timeouts emitted ${timeoutLagMs} ms after the new worker started`,
  );
  await queue.close();
  conn.disconnect();
}, 600_000); // the first run after a change builds dist/ (tsc) on a shared box
