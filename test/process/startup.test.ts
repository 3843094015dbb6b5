/**
 * The mistakes of a first start, as the real process (dist/main.js) meets them: each ends in one
 * line naming the cause and the fix, with exit 1 (2 for settings that cannot work together),
 * before the worker takes a job; a Redis outage
 * is reported once per state change, not once per reconnect attempt.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { Queue } from 'bullmq';
import { startWorker, type WorkerProcess } from '../helpers/worker-process.js';
import { freePort, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { cleanNamespace, namespace, redisClient } from '../helpers/redis.js';
import { jobData } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';

const started: WorkerProcess[] = [];
afterAll(async () => {
  for (const w of started) await w.stop(3000);
});
const run = async (env: Record<string, string>) => {
  const w = await startWorker(env, { waitFor: null });
  started.push(w);
  return w;
};
const outputLines = (w: WorkerProcess) =>
  w.logs.length + w.stderr().split('\n').filter(Boolean).length;

describe('a taken port', { timeout: 90_000 }, () => {
  const ns = namespace('port');
  const redis = redisClient();
  let up: Upstream;
  let squatter: net.Server;
  let port: number;
  beforeAll(async () => {
    up = await startUpstream((_r, res) => json(res, 200, { ok: true }));
    squatter = net.createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    port = (squatter.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((r) => squatter.close(r));
    await up.close();
    await cleanNamespace(redis, ns);
    await redis.quit();
  });

  it('exits 1 with one line naming the port and the fix, and takes no job', async () => {
    const queue = new Queue(ns.queue, { connection: redisClient(), prefix: ns.prefix });
    await queue.add('invoke', jobData({ request: { url: `${up.url}/x` } }));
    const w = await run({ ...ns.env, PORT: String(port), INVOKE_ALLOW_PRIVATE: '127.0.0.1/32' });
    expect((await w.exited).code).toBe(1);
    expect(w.stderr().trim()).toBe(
      `invoke-api-worker: port ${port} is in use (EADDRINUSE): set PORT or stop the other process`,
    );
    expect(w.hasLog((l) => l.msg === 'worker started')).toBe(false);
    expect(up.requests).toHaveLength(0);
    expect(await queue.getWaitingCount()).toBe(1);
    await queue.close();
  });
});

describe('Redis unreachable at start', { timeout: 90_000 }, () => {
  it('exits 1 with one line naming the masked URL and the fix, without per-retry noise', async () => {
    const closed = await freePort();
    const w = await run({
      REDIS_URL: `redis://:hunter2-secret@127.0.0.1:${closed}`,
      INVOKE_REDIS_STARTUP_GRACE_MS: '3000',
      PORT: String(await freePort()),
    });
    expect((await w.exited).code).toBe(1);
    expect(w.stderr().trim()).toBe(
      `invoke-api-worker: cannot reach Redis at redis://:***@127.0.0.1:${closed} (ECONNREFUSED): is it running? set REDIS_URL`,
    );
    // A 3 s wait retries about ten times; what is printed is the one warning and the one line.
    expect(w.logs.map((l) => l.msg)).toEqual(['waiting for Redis']);
    expect(outputLines(w)).toBe(2);
    expect(JSON.stringify(w.logs) + w.stderr()).not.toContain('hunter2');
  });
});

describe('a Redis outage while running', { timeout: 120_000 }, () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterAll(async () => {
    await server.destroy();
  });

  it('logs one line per connection per state change, however many retries', async () => {
    const w = await run({ REDIS_URL: server.url, PORT: String(await freePort()) });
    await w.waitForLog((l) => l.msg === 'worker started', 'worker started', 60_000);
    await server.stop('SIGKILL');
    await w.waitForLog((l) => l.msg === 'redis connection lost; reconnecting', 'outage logged');
    // Long enough for several reconnect attempts (0.2 s, 0.4 s, ... 2 s apart).
    await new Promise((r) => setTimeout(r, 4000));
    await server.start();
    await w.waitForLog((l) => l.msg === 'redis connection restored', 'recovery logged');
    await waitFor(
      async () =>
        w.logs.filter((l) => l.msg === 'redis connection restored').length >= 2 || undefined,
      'both connections restored',
    );
    const lost = w.logs
      .filter((l) => l.msg === 'redis connection lost; reconnecting')
      .map((l) => l.connection);
    expect(lost.length).toBe(new Set(lost).size);
    expect(w.logs.filter((l) => (l.level ?? 0) >= 50)).toEqual([]); // no "worker error" per retry
  });
});

describe('waiting for replicas on a Redis Cluster', { timeout: 90_000 }, () => {
  it('exits 2 with one line naming INVOKE_CALLBACK_MIN_REPLICAS, before connecting', async () => {
    const w = await run({
      REDIS_CLUSTER_NODES: '127.0.0.1:1',
      BULLMQ_PREFIX: '{bull}',
      INVOKE_CALLBACK_MIN_REPLICAS: '1',
    });
    expect((await w.exited).code).toBe(2);
    expect(w.stderr().trim()).toBe(
      'invoke-api-worker: invalid configuration: INVOKE_CALLBACK_MIN_REPLICAS: not supported with REDIS_CLUSTER_NODES (WAIT counts the replicas of one shard); set it to 0',
    );
  });
});
