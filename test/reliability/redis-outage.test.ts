/**
 * Redis unreachable (connections dropped, new ones refused) while calls are in flight: the
 * calls finish during the outage, their result writes wait in ioredis's offline queue
 * (maxRetriesPerRequest: null) and land once Redis is back; nothing is dropped, nothing crashes.
 *
 * The outage lasts RELIABILITY_OUTAGE_MS (8 s in CI; the 30 s variant:
 * RELIABILITY_OUTAGE_MS=30000 npx vitest run test/reliability/redis-outage.test.ts).
 * Past the lock duration (INVOKE_LOCK_DURATION_MS, 15 s) a job's lock expires during the outage,
 * so BullMQ may run it again after reconnecting: still one envelope per key, maybe two events.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type http from 'node:http';
import {
  freePort,
  startRedisServer,
  startTcpProxy,
  type RedisServer,
  type TcpProxy,
} from '../helpers/redis-server.js';
import { startWorker, isCrashLog, type WorkerProcess } from '../helpers/worker-process.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';
import { client, counts, expectSavedOnce, makeJobs, queueOn, workerEnv } from './fixtures.js';

const OUTAGE_MS = Number(process.env.RELIABILITY_OUTAGE_MS ?? 8000);
const N = 40;
let redis: RedisServer;
let proxy: TcpProxy;
let up: Upstream;
let worker: WorkerProcess | undefined;

beforeAll(async () => {
  redis = await startRedisServer();
  proxy = await startTcpProxy(redis.port);
  up = await startUpstream();
});
afterAll(async () => {
  await worker?.stop(3000);
  await up.close();
  await proxy.close();
  await redis.destroy();
});

const readyz = async (port: number) =>
  (
    await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(3000) }).catch(
      () => undefined,
    )
  )?.status ?? 0;

it(
  `saves results of calls that finish while Redis is unreachable for ${OUTAGE_MS} ms`,
  async () => {
    const held: http.ServerResponse[] = [];
    up.handle((_r, res) => void held.push(res));
    const port = await freePort();
    worker = await startWorker(
      workerEnv(proxy.url, { INVOKE_API_ENABLED: 'true', PORT: String(port) }),
      { waitFor: 'worker started' },
    );
    const conn = client(redis.url); // the test talks to Redis directly, not through the proxy
    const queue = queueOn(conn);
    const jobs = makeJobs(N, up.url, 'outage');
    await queue.addBulk(jobs);
    await waitFor(async () => held.length >= N || undefined, `${N} calls in flight`);

    await proxy.cut();
    const cutAt = Date.now();
    await waitFor(
      async () => (await readyz(port)) === 503 || undefined,
      '/readyz 503 during the outage',
    );
    // The partner answers now, while Redis is away: every result write has to wait.
    for (const res of held) json(res, 200, { points: 7 });
    await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - cutAt)))); // the outage itself is the point
    expect(await counts(queue)).toMatchObject({ completed: 0 });
    expect(worker.proc.exitCode).toBeNull();

    up.handle((_r, res) => json(res, 200, { points: 7 }));
    await proxy.restore();
    await waitFor(
      async () => (await counts(queue)).completed === N || undefined,
      `all ${N} jobs completed after the outage`,
      60_000,
    );
    expect(await readyz(port)).toBe(200);
    const { duplicates } = await expectSavedOnce(conn, jobs);
    // Within the lock duration no call runs twice: the saved results are the queued writes.
    if (OUTAGE_MS < 15_000) expect(up.requests.length).toBe(N);
    expect(await counts(queue)).toMatchObject({
      wait: 0,
      active: 0,
      delayed: 0,
      failed: 0,
      completed: N,
    });
    expect(worker.logs.filter(isCrashLog)).toEqual([]);
    expect(worker.stderr()).not.toMatch(/unhandled|uncaught|Error:/i);
    expect(worker.hasLog((l) => l.msg === 'redis connection restored')).toBe(true);
    console.log(
      `[redis-outage] ${OUTAGE_MS} ms outage: ${N} results saved after reconnect; keys with a duplicate event: ${duplicates}; upstream requests: ${up.requests.length}`,
    );
    await queue.close();
    conn.disconnect();
  },
  OUTAGE_MS + 150_000,
);
