/**
 * The callback route waiting for a replica (INVOKE_CALLBACK_MIN_REPLICAS, docs/callbacks.md#failover):
 * a private master with one replica, a worker on the master, the route on real HTTP wired as
 * main.ts wires it (createCallbackEndpoint: its own connection and the replica barrier).
 *   - a 202 is answered only once the replica holds the completion (a paused replica holds the
 *     answer back; right after it, record, envelope and event are read on the replica), and so
 *     is a 200 for a completion another connection made;
 *   - replica down: 503 within the timeout, the completion stays on the master, and the retry
 *     once the replica is back answers 200 with still exactly one event;
 *   - 50 concurrent callbacks share a few WAITs;
 *   - off (the default): no WAIT at all.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { buildServer } from '../../src/api/server.js';
import { callbackRoutes } from '../../src/api/routes/callbacks.js';
import { createCallbackEndpoint, type CallbackEndpoint } from '../../src/callbacks/endpoint.js';
import { createLogger } from '../../src/logger.js';
import { contextKey } from '../../src/store/context.js';
import { parseEventFields } from '../../src/events/continuation.js';
import { freePort, startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { jobData, startHarness, type Harness } from '../helpers/harness.js';
import { redisClient } from '../helpers/redis.js';
import { startCallbackPartner, type Upstream } from '../helpers/upstream.js';
import { waitFor, waitForJob } from '../helpers/wait.js';
import { enqueueJob } from './enqueue.js';

let master: RedisServer;
let replica: RedisServer;
let up: Upstream;
let onMaster: Redis;
let onReplica: Redis;
let paths: Map<string, string>;

beforeAll(async () => {
  master = await startRedisServer();
  replica = await startRedisServer({
    args: ['--replicaof', '127.0.0.1', String(master.port)],
    // A restart after a kill may resume by partial resync (the replica keeps the synced RDB).
    ready: /MASTER <-> REPLICA sync: (Finished|Master accepted a Partial)/,
  });
  onMaster = redisClient(master.url);
  onReplica = redisClient(replica.url);
  onReplica.on('error', () => undefined); // the replica is killed in one test
  await replicaInSync();
  ({ up, paths } = await startCallbackPartner());
}, 60_000);
afterAll(async () => {
  onMaster?.disconnect();
  onReplica?.disconnect();
  await up?.close();
  await replica?.destroy();
  await master?.destroy();
});

/** The master sees one replica online, and it has acknowledged everything written so far. */
async function replicaInSync(): Promise<void> {
  await waitFor(
    async () => {
      const info = await onMaster.info('replication');
      const offset = Number(/master_repl_offset:(\d+)/.exec(info)?.[1]);
      const slave = /slave0:.*state=online,offset=(\d+)/.exec(info);
      return (
        (info.includes('connected_slaves:1') && slave && Number(slave[1]) >= offset) || undefined
      );
    },
    'the replica to be connected and in sync',
    20_000,
  );
  expect((await onReplica.info('replication')).includes('master_link_status:up')).toBe(true);
}

async function replicaPid(): Promise<number> {
  return Number(/process_id:(\d+)/.exec(await onReplica.info('server'))![1]);
}

const waitCalls = async () =>
  /cmdstat_wait:calls=(\d+)/.exec(await onMaster.info('commandstats'))?.[1];

interface Setup {
  h: Harness;
  endpoint: CallbackEndpoint;
  server: FastifyInstance;
  base: string;
  logs: string[];
  registry: Registry;
  close(): Promise<void>;
}

let current: Setup | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

async function startSetup(env: Record<string, string>): Promise<Setup> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const h = await startHarness({
    REDIS_URL: master.url,
    INVOKE_CALLBACK_KEY: randomBytes(32).toString('base64'),
    INVOKE_PUBLIC_URL: base,
    INVOKE_CALLBACK_RATE_PER_MINUTE: '10000',
    LOG_LEVEL: 'silent',
    ...env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const registry = new Registry();
  const endpoint = createCallbackEndpoint(
    h.cfg,
    h.app.redis,
    createLogger('info', (s) => s, sink),
    registry,
  );
  const server = await buildServer({
    cfg: h.cfg,
    logger: createLogger('silent', (s) => s),
    readiness: { checks: {} },
    plugins: [callbackRoutes(endpoint.callbacks, h.cfg, endpoint.barrier)],
  });
  await server.listen({ port, host: '127.0.0.1' });
  current = {
    h,
    endpoint,
    server,
    base,
    logs,
    registry,
    async close() {
      await server.close();
      await endpoint.close();
      await h.close();
    },
  };
  return current;
}

/** n steps whose call was made and which now wait for their callback. */
async function waitingSteps(s: Setup, n: number) {
  const steps = await Promise.all(
    Array.from({ length: n }, async () => {
      const data = jobData({
        request: {
          method: 'POST',
          url: `${up.url}/orders`,
          body: { runId: '{{ run.id }}', callbackUrl: '{{ callback.url }}' },
        },
        wait: { callback: true, timeoutMs: 10 * 60_000 },
      });
      const jobId = await enqueueJob(s.h.queue, data);
      await waitForJob(s.h.queue, jobId, 'completed');
      return { jobId, runId: data.runId, path: paths.get(data.runId)! };
    }),
  );
  return steps;
}

async function post(s: Setup, path: string, body: unknown) {
  const res = await fetch(s.base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), text: await res.text() };
}

/** What a step's completion left in one Redis: record state, saved envelope, its events. */
async function completionOn(r: Redis, s: Setup, step: { jobId: string; runId: string }) {
  const { cfg } = s.h;
  const state = await r.hget(`${cfg.BULLMQ_PREFIX}:${cfg.INVOKE_QUEUE}:cb:${step.jobId}`, 's');
  const saved = await r.hget(contextKey(cfg.INVOKE_CTX_PREFIX, step.runId), 'loyalty');
  const events = (await r.xrange(cfg.INVOKE_EVENTS_STREAM, '-', '+'))
    .map(([, f]) => parseEventFields(f))
    .filter((e) => e.runId === step.runId);
  return { state, envelope: saved ? JSON.parse(saved) : undefined, events };
}

const metric = async (s: Setup) =>
  (await s.registry.getSingleMetricAsString('invoke_callback_replica_wait_total'))
    .split('\n')
    .filter((l) => !l.startsWith('#'));

it('on: a 202 waits for the replica; right after it the completion is read on the replica', async () => {
  const s = await startSetup({
    INVOKE_CALLBACK_MIN_REPLICAS: '1',
    INVOKE_CALLBACK_REPLICA_TIMEOUT_MS: '5000',
  });
  const [slow, plain] = await waitingSteps(s, 2);

  // Replica paused: the master completes the step at once, the answer waits for the replica.
  const pid = await replicaPid();
  process.kill(pid, 'SIGSTOP');
  let answered = false;
  const pending = post(s, slow!.path, { verdict: 'approved' }).finally(() => (answered = true));
  try {
    await waitFor(
      async () => (await completionOn(onMaster, s, slow!)).state === 'd' || undefined,
      'the completion on the master',
      5000,
    );
    await new Promise((r) => setTimeout(r, 500));
    expect(answered, 'answered while the replica could not have the completion').toBe(false);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  expect((await pending).status).toBe(202);
  const onRep = await completionOn(onReplica, s, slow!);
  expect(onRep.state).toBe('d');
  expect(onRep.envelope).toMatchObject({ ok: true, body: { verdict: 'approved' } });
  expect(onRep.events).toMatchObject([{ type: 'invoke.completed', jobId: slow!.jobId }]);

  // Replica up: 202 and on the replica; a repeat 200, nothing new.
  expect((await post(s, plain!.path, { verdict: 'ok' })).status).toBe(202);
  expect(await completionOn(onReplica, s, plain!)).toMatchObject({
    state: 'd',
    envelope: { body: { verdict: 'ok' } },
    events: [{ type: 'invoke.completed' }],
  });
  expect((await post(s, plain!.path, { verdict: 'again' })).status).toBe(200);
  expect((await completionOn(onReplica, s, plain!)).events).toHaveLength(1);
  expect(await metric(s)).toEqual(['invoke_callback_replica_wait_total{result="ok"} 3']);
}, 60_000);

it('on: a repeat of a completion made on another connection (an operator) waits for the replica too', async () => {
  const s = await startSetup({
    INVOKE_CALLBACK_MIN_REPLICAS: '1',
    INVOKE_CALLBACK_REPLICA_TIMEOUT_MS: '5000',
  });
  const [step] = await waitingSteps(s, 1);
  const pid = await replicaPid();
  process.kill(pid, 'SIGSTOP');
  let answered = false;
  let pending: Promise<{ status: number }> | undefined;
  try {
    // The worker's connection completes it; the route's connection then only reads "done".
    // (Redis 7.0 also makes a connection's WAIT cover what it read, so there this passes without
    // the barrier's fence too; WAIT's documentation promises only the connection's own writes.)
    expect(await s.h.app.callbacks.completeStep(step!.jobId, { by: 'operator' })).toEqual({
      done: true,
    });
    pending = post(s, step!.path, { verdict: 'late' }).finally(() => (answered = true));
    await new Promise((r) => setTimeout(r, 500));
    expect(answered, 'a 200 while the replica could not have the completion').toBe(false);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  expect((await pending!).status).toBe(200);
  expect(await completionOn(onReplica, s, step!)).toMatchObject({
    state: 'd',
    envelope: { body: { by: 'operator' } },
    events: [{ type: 'invoke.completed' }],
  });
}, 60_000);

it('on, replica down: 503 within the timeout; the retry once it is back answers 200, one event', async () => {
  const timeoutMs = 500;
  const s = await startSetup({
    INVOKE_CALLBACK_MIN_REPLICAS: '1',
    INVOKE_CALLBACK_REPLICA_TIMEOUT_MS: String(timeoutMs),
  });
  const [step] = await waitingSteps(s, 1);
  await replica.stop('SIGKILL');
  try {
    const t0 = Date.now();
    const first = await post(s, step!.path, { verdict: 'approved' });
    const tookMs = Date.now() - t0;
    expect(first.status).toBe(503);
    expect(first.retryAfter).toBe('5');
    expect(JSON.parse(first.text)).toEqual({
      error: 'UNAVAILABLE',
      message: 'not yet replicated; try again shortly',
    });
    expect(tookMs).toBeGreaterThanOrEqual(timeoutMs - 50);
    expect(tookMs).toBeLessThan(timeoutMs + 2000);
    // The completion stays on the master, once.
    expect(await completionOn(onMaster, s, step!)).toMatchObject({
      state: 'd',
      envelope: { body: { verdict: 'approved' } },
      events: [{ type: 'invoke.completed' }],
    });
    const warnings = s.logs.filter((l) => JSON.parse(l).level === 40);
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0]!)).toMatchObject({ acked: 0, wanted: 1, result: 'short' });
    expect(warnings[0]).not.toContain(step!.path.split('/').pop()!);
  } finally {
    await replica.start();
  }
  await replicaInSync();
  const retry = await post(s, step!.path, { verdict: 'approved' });
  expect(retry.status).toBe(200);
  for (const r of [onMaster, onReplica])
    expect((await completionOn(r, s, step!)).events).toMatchObject([
      { type: 'invoke.completed', jobId: step!.jobId },
    ]);
  expect((await metric(s)).sort()).toEqual([
    'invoke_callback_replica_wait_total{result="ok"} 1',
    'invoke_callback_replica_wait_total{result="short"} 1',
  ]);
}, 60_000);

it('on: 50 concurrent callbacks share far fewer WAITs than 50, and all answer 202', async () => {
  const s = await startSetup({
    INVOKE_CALLBACK_MIN_REPLICAS: '1',
    INVOKE_CALLBACK_REPLICA_TIMEOUT_MS: '5000',
  });
  const steps = await waitingSteps(s, 50);
  await onMaster.config('RESETSTAT');
  // A replica slower than the arrivals (paused for a moment): with a local replica a WAIT returns
  // before the next callback arrives and there is nothing to coalesce.
  const pid = await replicaPid();
  process.kill(pid, 'SIGSTOP');
  let answers: { status: number }[];
  try {
    const burst = Promise.all(steps.map((st, i) => post(s, st.path, { n: i })));
    await waitFor(
      async () => (Number(await waitCalls()) >= 1 ? true : undefined),
      'the first WAIT in flight',
      5000,
    );
    await new Promise((r) => setTimeout(r, 300)); // the other 49 arrive meanwhile
    process.kill(pid, 'SIGCONT');
    answers = await burst;
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  expect(answers.map((a) => a.status)).toEqual(steps.map(() => 202));
  const calls = Number(await waitCalls());
  console.log(`[replica wait] 50 concurrent callbacks: ${calls} WAIT commands`);
  expect(calls).toBeGreaterThanOrEqual(2);
  expect(calls).toBeLessThanOrEqual(12);
  for (const st of steps) expect((await completionOn(onReplica, s, st)).state).toBe('d');
}, 60_000);

it('on, asking for more replicas than the master has: one warning at start', async () => {
  const s = await startSetup({ INVOKE_CALLBACK_MIN_REPLICAS: '2' });
  await waitFor(
    async () => s.logs.some((l) => l.includes('"connectedReplicas":1')) || undefined,
    'the too-few-replicas warning',
  );
  expect(JSON.parse(s.logs.find((l) => l.includes('connectedReplicas'))!)).toMatchObject({
    level: 40,
    connectedReplicas: 1,
    wanted: 2,
  });
});

it('off (the default): no WAIT is sent and the route has no connection of its own', async () => {
  const s = await startSetup({});
  const [step] = await waitingSteps(s, 1);
  await onMaster.config('RESETSTAT');
  expect((await post(s, step!.path, { verdict: 'ok' })).status).toBe(202);
  expect((await post(s, step!.path, { verdict: 'ok' })).status).toBe(200);
  expect(await waitCalls()).toBeUndefined();
  expect(s.endpoint.barrier).toBeUndefined();
  expect(String(await onMaster.client('LIST'))).not.toContain('invoke-api:callbacks');
}, 60_000);
