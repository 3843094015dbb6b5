/**
 * Waiting steps on a Redis Cluster (3 masters, {bull} prefix): the record and the deadline set
 * share the prefix's slot, the run's context and the stream do not, so a step is decided in one
 * script, then saved and emitted, then finalized. Concurrent callbacks still complete once; a
 * timeout is found by the sweeper; a process that died between decision and writes has its
 * writes made by the sweeper.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createRedis, type RedisClient } from '../../src/redis.js';
import { createCallbacks, type Callbacks } from '../../src/callbacks/service.js';
import { idempotencyKey } from '../../src/contract/idempotency.js';
import { invokeJobSchema } from '../../src/contract/job.js';
import type { Envelope } from '../../src/contract/envelope.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-server.js';
import { jobData } from '../helpers/harness.js';
import { readEvents } from '../reliability/fixtures.js';

let cluster: RedisCluster;
let redis: RedisClient;
let callbacks: Callbacks;
let now = Date.now();
const TS = Date.now();

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
  const cfg = loadConfig({
    REDIS_CLUSTER_NODES: cluster.seeds,
    BULLMQ_PREFIX: '{bull}',
    INVOKE_CALLBACK_KEY: randomBytes(32).toString('base64'),
  });
  redis = createRedis(cfg, 'test');
  callbacks = createCallbacks(cfg, redis, () => now);
}, 60_000);
afterAll(async () => {
  redis?.disconnect();
  await cluster.destroy();
});

const envelope: Envelope = {
  ok: true,
  status: 202,
  body: { queued: true },
  truncated: false,
  headers: {},
  error: null,
  attempts: 1,
  durationMs: 5,
  at: new Date().toISOString(),
  eventId: '',
};

async function waiting(timeoutMs = 60_000) {
  const job = invokeJobSchema.parse({
    ...jobData({ runId: `cl-${randomBytes(4).toString('hex')}` }),
    wait: { callback: true, timeoutMs },
  });
  const jobId = idempotencyKey(job);
  expect(await callbacks.wait(jobId, { ts: TS, gen: 0, job, envelope, timeoutMs })).toBe('armed');
  return { job, jobId, token: callbacks.tokenFor({ jobId, ts: TS, gen: 0 }).token };
}
const eventsOf = async (runId: string) =>
  (await readEvents(redis)).filter((e) => e.runId === runId);
const saved = async (runId: string) =>
  JSON.parse((await redis.hget(`journey:ctx:{${runId}}`, 'loyalty')) ?? 'null');

it('20 concurrent callbacks complete a step once; the repeat is 200', async () => {
  const { job, token } = await waiting();
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) => callbacks.complete(token, { n: i })),
  );
  expect(results.filter((r) => r === 'first')).toHaveLength(1);
  expect(results.filter((r) => r === 'repeat')).toHaveLength(19);
  expect(await eventsOf(job.runId)).toEqual([
    expect.objectContaining({ type: 'invoke.completed' }),
  ]);
  expect(await saved(job.runId)).toMatchObject({ ok: true, callback: { at: expect.any(String) } });
  expect(await callbacks.complete(token, {})).toBe('repeat');
}, 60_000);

it('the sweeper times a step out once, and a late callback is 410', async () => {
  const { job, token } = await waiting(1000);
  now += 2000;
  await callbacks.sweep();
  await callbacks.sweep();
  expect(await eventsOf(job.runId)).toEqual([
    expect.objectContaining({ type: 'invoke.failed', errorCode: 'CALLBACK_TIMEOUT' }),
  ]);
  expect(await callbacks.complete(token, {})).toBe('gone');
}, 60_000);

it('a decision whose writes never happened (the process died) is written by the sweeper', async () => {
  const { job, jobId, token } = await waiting();
  const rec = (await callbacks.store.read(jobId))!;
  // What settle() decides, without the writes that would follow it.
  const pending = {
    runId: job.runId,
    variable: 'loyalty',
    envelope: { ...envelope, body: { late: 'write' }, eventId: jobId },
    event: {
      eventId: jobId,
      type: 'invoke.completed',
      journeyId: job.journeyId,
      runId: job.runId,
      stepId: job.stepId,
      visit: '1',
      customerId: job.customerId,
      variable: 'loyalty',
      status: '202',
      errorCode: '',
      attempts: '1',
      jobId,
      at: new Date().toISOString(),
      tenantId: '',
    },
    keepJob: false,
    expireAt: now + 86_400_000,
  };
  const settlement = {
    jobId,
    gen: rec.gen,
    allowed: 'w',
    dueBy: undefined,
    newState: 'd' as const,
    save: undefined,
    emit: undefined,
    expireAt: pending.expireAt,
    keepJob: false,
  };
  expect(await callbacks.store.decide(settlement, JSON.stringify(pending), now)).toBe('ok');
  expect(await callbacks.complete(token, { other: true })).toBe('repeat');
  expect(await eventsOf(job.runId)).toEqual([]);
  now += 31_000;
  await callbacks.sweep();
  expect(await eventsOf(job.runId)).toHaveLength(1);
  expect(await saved(job.runId)).toMatchObject({ body: { late: 'write' } });
  expect((await callbacks.store.read(jobId))?.state).toBe('d');
}, 60_000);
