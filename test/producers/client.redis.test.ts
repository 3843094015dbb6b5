/** The TypeScript client: validation before Redis, derived jobIds, race-free dedupe, batches, status. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Job } from 'bullmq';
import { createInvokeClient, type InvokeClient } from '../../src/client/create-invoke-client.js';
import { InvalidJobError } from '../../src/contract/invalid-job.js';
import { idempotencyKey } from '../../src/contract/idempotency.js';
import { startHarness, jobData, type Harness } from '../helpers/harness.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import {
  cleanNamespace,
  namespace,
  namespaceKeys,
  redisClient,
  REDIS_URL,
} from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

// No worker on this namespace: jobs stay where the client put them.
const ns = namespace('cli');
const redis = redisClient();
let client: InvokeClient;

const nsKeys = () => namespaceKeys(redis, ns);

beforeAll(() => {
  client = createInvokeClient({ redisUrl: REDIS_URL, prefix: ns.prefix, ctxPrefix: ns.ctxPrefix });
});
afterAll(async () => {
  await client.close();
  await cleanNamespace(redis, ns);
  await redis.quit();
});

describe('createInvokeClient', () => {
  it('rejects bad input naming each path before anything reaches Redis', async () => {
    const bad = { ...jobData(), request: { url: 'http://x', method: 'FETCH' }, save: {} };
    const err = await client.enqueue(bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidJobError);
    expect((err as InvalidJobError).issues.map((i) => i.path).sort()).toEqual([
      'request.method',
      'save.variable',
    ]);
    const batchErr = (await client
      .enqueueMany([
        jobData(),
        { ...jobData(), runId: '' },
        jobData(),
        { ...jobData(), visit: 1.5 },
      ])
      .catch((e: unknown) => e)) as InvalidJobError;
    expect(batchErr.issues.map((i) => i.path)).toEqual(['[1].runId', '[3].visit']);
    // A lone surrogate passes z.string() but cannot be percent-encoded into the jobId.
    expect(
      await client
        .enqueue({ ...jobData(), stepId: 'a\uD800' })
        .catch((e: InvalidJobError) => e.issues[0]!.path),
    ).toBe('stepId');
    // BullMQ writes the queue's meta hash (library version) on its own once the client
    // connects, whether or not a job is added; only that may exist.
    expect((await nsKeys()).filter((k) => !k.endsWith(':meta'))).toEqual([]);
  });

  it('derives the jobId from the idempotency key, sets default options, and dedupes', async () => {
    const data = jobData({ runId: 'run:1.a/b', visit: 2 });
    const first = await client.enqueue(data);
    expect(first).toEqual({ jobId: idempotencyKey(data), deduplicated: false });
    expect(first.jobId).toBe('ik.run%3A1%2Ea%2Fb.fetch-loyalty.2');
    const again = await client.enqueue({ ...data, customerId: 'someone-else' });
    expect(again).toEqual({ jobId: first.jobId, deduplicated: true });
    const job = (await Job.fromId(client.queue, first.jobId))!;
    expect(job.name).toBe('invoke');
    expect(job.data).toMatchObject({ customerId: 'cus-123', onFailure: 'continue', visit: 2 });
    expect(job.opts).toMatchObject({
      attempts: 6,
      backoff: { type: 'invoke', delay: 1000 },
      removeOnComplete: { age: 86400, count: 10000 },
      removeOnFail: { age: 14 * 86400, count: 100000 },
    });
  });

  it('lets the caller override job options', async () => {
    const { jobId } = await client.enqueue(jobData(), {
      attempts: 2,
      backoff: { type: 'fixed', delay: 10 },
      delay: 60_000,
    });
    const job = (await Job.fromId(client.queue, jobId))!;
    expect(job.opts).toMatchObject({
      attempts: 2,
      backoff: { type: 'fixed', delay: 10 },
      delay: 60_000,
    });
    expect(await job.getState()).toBe('delayed');
    const keys = (await nsKeys()).length;
    await expect(client.enqueueMany([jobData(), jobData()], { priority: 1.5 })).rejects.toThrow(
      /[Pp]riority/,
    );
    expect((await nsKeys()).length).toBe(keys);
    // A batch goes out in MULTI blocks of 500, each sent as soon as it is built: one job over
    // sizeLimit in the third block must still stop the whole batch before any block is sent.
    const batch = Array.from({ length: 1200 }, (_, i) =>
      jobData({
        runId: `size-${i}`,
        ...(i === 1100 ? { data: { customer: { id: 'x', blob: 'x'.repeat(5000) } } } : {}),
      }),
    );
    await expect(client.enqueueMany(batch, { sizeLimit: 4000 })).rejects.toThrow(
      /exceeds the limit/,
    );
    expect((await nsKeys()).length).toBe(keys);
  });

  it('is race-free: many concurrent enqueues of one key from two clients add it exactly once', async () => {
    const other = createInvokeClient({ redisUrl: REDIS_URL, prefix: ns.prefix });
    try {
      const data = jobData();
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 ? client : other).enqueue(data)),
      );
      expect(results.filter((r) => !r.deduplicated)).toHaveLength(1);
      expect(new Set(results.map((r) => r.jobId)).size).toBe(1);
    } finally {
      await other.close();
    }
  });

  it('enqueues a batch of 1,000 in one call (three MULTI blocks), deduping within and across blocks and batches', async () => {
    const runId = `batch-${ns.id}`;
    const batch = Array.from({ length: 1000 }, (_, i) => jobData({ runId, stepId: `s${i}` }));
    const started = performance.now();
    const results = await client.enqueueMany([...batch, batch[0]!]);
    const ms = performance.now() - started;
    expect(results).toHaveLength(1001);
    expect(results.slice(0, 1000).every((r) => !r.deduplicated)).toBe(true);
    expect(results[1000]).toEqual({ jobId: results[0]!.jobId, deduplicated: true });
    // Waiting in BullMQ's list, or (most of them) in the fair index as far-delayed jobs.
    const counts = await client.queue.getJobCounts('waiting', 'delayed');
    expect(counts.waiting! + counts.delayed!).toBeGreaterThanOrEqual(1000);
    const again = await client.enqueueMany(batch.slice(0, 10));
    expect(again.every((r) => r.deduplicated)).toBe(true);
    console.log(`enqueueMany(1000): ${ms.toFixed(0)} ms`);
  });

  it('status: null for an unknown job, waiting before a worker runs it', async () => {
    expect(await client.status('ik.nope.nope.1')).toBeNull();
    const { jobId } = await client.enqueue(jobData());
    expect(await client.status(jobId)).toMatchObject({
      jobId,
      state: 'waiting',
      attempts: 0,
      maxAttempts: 6,
      lastErrorCode: null,
      envelope: null,
      held: false,
    });
  });
});

describe('status with a worker', () => {
  let h: Harness;
  let up: Upstream;
  let c: InvokeClient;
  beforeAll(async () => {
    up = await startUpstream();
    h = await startHarness();
    c = createInvokeClient({
      redisUrl: REDIS_URL,
      prefix: h.cfg.BULLMQ_PREFIX,
      ctxPrefix: h.cfg.INVOKE_CTX_PREFIX,
    });
  });
  afterAll(async () => {
    await c.close();
    await h.close();
    await up.close();
  });

  it('reports the saved envelope when completed, and the last error code when failed or held', async () => {
    up.handle((r, res) =>
      r.url === '/ok' ? json(res, 200, { points: 1 }) : json(res, 404, { nope: true }),
    );
    const ok = await c.enqueue(jobData({ request: { url: `${up.url}/ok` } }));
    const failed = await c.enqueue(jobData({ request: { url: `${up.url}/missing` } }));
    const held = await c.enqueue(
      jobData({ request: { url: `${up.url}/missing` }, onFailure: 'hold' }),
    );
    const done = await waitFor(async () => {
      const s = await c.status(ok.jobId);
      return s?.state === 'completed' && s;
    }, 'completed');
    expect(done).toMatchObject({
      attempts: 1,
      lastErrorCode: null,
      envelope: { ok: true, status: 200, body: { points: 1 }, eventId: ok.jobId },
    });
    const f = await waitFor(async () => {
      const s = await c.status(failed.jobId);
      return s?.state === 'failed' && s;
    }, 'failed');
    expect(f).toMatchObject({
      attempts: 1,
      lastErrorCode: 'HTTP_STATUS',
      held: false,
      envelope: { ok: false, status: 404, error: { code: 'HTTP_STATUS' } },
    });
    const hd = await waitFor(async () => {
      const s = await c.status(held.jobId);
      return s?.state === 'failed' && s;
    }, 'held');
    expect(hd).toMatchObject({ lastErrorCode: 'HTTP_STATUS', held: true, envelope: null });
  });
});
