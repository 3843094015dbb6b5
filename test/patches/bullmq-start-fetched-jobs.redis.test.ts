/**
 * src/patches/bullmq-start-fetched-jobs.ts: a job fetched by the Worker starts at once, not after BullMQ's
 * fetch loop has filled the worker. Jobs are held in their processor until all have started,
 * so none completes early and hands over the next one (moveToFinished's fetch): every job comes
 * through the fetch loop under test. Redis shows where the loop was when the first processor
 * ran: how many jobs it had moved to active by then.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Queue, Worker, type Job } from 'bullmq';
import { createWorker } from '../../src/worker/create-worker.js';
import { loadConfig } from '../../src/config.js';
import {
  hasLoopInternals,
  startFetchedJobsAtOnce,
} from '../../src/patches/bullmq-start-fetched-jobs.js';
import { cleanNamespace, namespace, redisClient } from '../helpers/redis.js';
import { waitFor, waitForJob } from '../helpers/wait.js';

const CONCURRENCY = 40;
const JOBS = 60;

const opened: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close();
});

/** Runs JOBS waiting jobs through a worker made by `make`; returns what the first processor saw. */
async function firstStart(
  make: (ns: ReturnType<typeof namespace>, processor: (job: Job) => Promise<void>) => Worker,
) {
  const ns = namespace('prompt');
  const redis = redisClient();
  const queue = new Queue(ns.queue, { connection: redisClient(), prefix: ns.prefix });
  opened.push(async () => {
    await queue.close();
    await (queue.opts.connection as ReturnType<typeof redisClient>).quit();
    await cleanNamespace(redis, ns);
    await redis.quit();
  });
  await queue.addBulk(Array.from({ length: JOBS }, (_, i) => ({ name: 'invoke', data: { i } })));

  let activeAtFirstStart: number | undefined;
  let started = 0;
  let running = 0;
  let maxRunning = 0;
  let release!: () => void;
  const allStarted = new Promise<void>((r) => (release = r));
  const worker = make(ns, async () => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    if (++started === 1) activeAtFirstStart = await queue.getActiveCount();
    if (started === CONCURRENCY) release();
    await allStarted;
    running--;
  });
  opened.push(() => worker.close());
  await waitFor(
    async () => (await queue.getCompletedCount()) === JOBS,
    `all ${JOBS} jobs completed`,
  );
  return { activeAtFirstStart: activeAtFirstStart!, maxRunning, worker, queue };
}

const ourWorker = (ns: ReturnType<typeof namespace>, processor: (job: Job) => Promise<void>) => {
  const cfg = loadConfig({ ...ns.env, INVOKE_CONCURRENCY: String(CONCURRENCY) });
  const connection = redisClient();
  opened.push(() => connection.quit());
  return createWorker(cfg, connection, (job) => processor(job), { warn: (m) => expect.fail(m) });
};

describe('jobs start as soon as they are fetched', () => {
  it('our worker starts the first job while the rest are still waiting, within its concurrency', async () => {
    const { activeAtFirstStart, maxRunning, worker, queue } = await firstStart(ourWorker);
    expect(activeAtFirstStart).toBeLessThanOrEqual(5);
    expect(maxRunning).toBe(CONCURRENCY);
    // The queue is empty now: a new job still arrives through BullMQ's blocking wait.
    const late = await queue.add('invoke', { late: true });
    await waitForJob(queue, late.id!, 'completed');
    expect(worker.isRunning()).toBe(true);
  });

  it('without it, BullMQ 6 fetches until the worker is full before starting any job (why the patch exists)', async () => {
    const { activeAtFirstStart, maxRunning } = await firstStart((ns, processor) => {
      const connection = redisClient();
      opened.push(() => connection.quit());
      return new Worker(ns.queue, processor, {
        connection,
        prefix: ns.prefix,
        concurrency: CONCURRENCY,
      });
    });
    expect(activeAtFirstStart).toBe(CONCURRENCY);
    expect(maxRunning).toBe(CONCURRENCY);
  });

  it('bullmq still has the Worker internals the patch uses', () => {
    const worker = new Worker(namespace('prompt').queue, null, {
      connection: redisClient(),
      autorun: false,
    });
    opened.push(async () => {
      await worker.close();
      await (worker.opts.connection as ReturnType<typeof redisClient>).quit();
    });
    expect(hasLoopInternals(worker)).toBe(true);
  });

  it('leaves a Worker whose internals it does not recognise alone, and says so', () => {
    const stranger = { _getNextJob: undefined, waiting: null, drained: false } as unknown as Worker;
    const warnings: string[] = [];
    expect(startFetchedJobsAtOnce(stranger, (m) => warnings.push(m))).toBe(false);
    expect((stranger as unknown as { _getNextJob: unknown })._getNextJob).toBeUndefined();
    expect(warnings.join()).toMatch(
      /bullmq-start-fetched-jobs not applied: bullmq Worker internals changed/,
    );
  });
});
