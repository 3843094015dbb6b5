/**
 * Destination limiter overhead (docs/benchmarks.md, "Destination limiter"). One process run,
 * each measurement next to its baseline without the limiter:
 *
 *   1. per call: beforeCall + release + observe (2 Redis round trips) around a loopback HTTP
 *      GET, vs the same GET alone; sequential and 50 in flight.
 *   2. worker throughput: jobs/s through a real worker with the limiter (a policy that never
 *      holds a call back, breaker on) vs without.
 *   3. isolation: latency of an unlimited host's jobs while a slow host (2 in flight, 400 ms
 *      each) has a backlog, with the limiter (slow host capped) vs without (no cap).
 *
 * Run: npx tsx scripts/bench-limiter.ts [calls=2000] [jobs=2000]   (Redis on REDIS_URL; ROUNDS=3)
 */
import { Queue, type Job } from 'bullmq';
import { Writable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import os from 'node:os';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { createScrubber } from '../src/template/secrets.js';
import { createWorkerApp } from '../src/app.js';
import { createDestinations } from '../src/destinations/index.js';
import { cleanNamespace, namespace, redisClient } from '../test/helpers/redis.js';
import { startUpstream, json, type Upstream } from '../test/helpers/upstream.js';
import { jobData } from '../test/helpers/harness.js';

const CALLS = Number(process.argv[2] ?? 2000);
const JOBS = Number(process.argv[3] ?? 2000);
const quiet = createLogger(
  'warn',
  createScrubber(new Map()),
  new Writable({ write: (_c, _e, cb) => cb() }),
);
const GENEROUS = {
  default: { ratePerSecond: 1_000_000, burst: 1_000_000, maxConcurrent: 1_000_000 },
};
const redis = redisClient();
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (n: number) => n.toFixed(n < 10 ? 2 : 0);

async function perCall(up: Upstream, inFlight: number): Promise<void> {
  const ns = namespace('bench');
  const cfg = loadConfig({ ...ns.env, INVOKE_DESTINATIONS: JSON.stringify(GENEROUS) });
  const dest = createDestinations(cfg, quiet);
  const url = new URL(`${up.url}/x`);
  // Nothing is ever over this policy; a permit given up because this process stalled (see
  // guard.ts) would delay the job: counted, and the call skipped, as the worker would.
  let heldBack = 0;
  const job = {
    id: 'bench',
    timestamp: Date.now(),
    data: {},
    attemptsMade: 0,
    attemptsStarted: 1,
    moveToDelayed: async () => void heldBack++,
  } as unknown as Job;
  const get = () => fetch(url).then((r) => r.arrayBuffer());
  const limited = async () => {
    const release = await dest.hooks.beforeCall(job, url, undefined).catch(() => undefined);
    if (!release) return;
    await get();
    release();
    dest.hooks.observers[0]!({
      job,
      host: url.hostname,
      method: 'GET',
      status: 200,
      durationMs: 1,
      errorCode: undefined,
      outcome: 'completed',
    });
  };
  const limiterOnly = async () =>
    (await dest.hooks.beforeCall(job, url, undefined).catch(() => () => undefined))();
  const time = async (fn: () => Promise<unknown>) => {
    let next = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next++ < CALLS) await fn();
      }),
    );
    return ((performance.now() - start) * 1000) / CALLS;
  };
  await time(get); // warm-up
  await time(limited);
  // Interleaved rounds, medians: a shared machine's load drifts during a run.
  const base: number[] = [];
  const lim: number[] = [];
  const only: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    base.push(await time(get));
    lim.push(await time(limited));
    only.push(await time(limiterOnly));
  }
  const [b, withLimiter, alone] = [median(base), median(lim), median(only)];
  console.log(
    `| per call, ${inFlight} in flight (median of ${ROUNDS}) | ${fmt(b)} µs | ${fmt(withLimiter)} µs | ${(withLimiter / b).toFixed(2)} | limiter alone (2 round trips) ${fmt(alone)} µs/call; ${heldBack} stale permits given up |`,
  );
  await dest.close();
  await cleanNamespace(redis, ns);
}

/** Starts a worker (with or without destinations), runs jobs, returns them as finished. */
async function runJobs(
  destinations: object | undefined,
  concurrency: number,
  jobs: { url: string }[],
): Promise<Job[]> {
  const ns = namespace('bench');
  const cfg = loadConfig({
    ...ns.env,
    INVOKE_ALLOW_PRIVATE: '127.0.0.1/32',
    INVOKE_CONCURRENCY: String(concurrency),
    LOG_LEVEL: 'warn',
    INVOKE_DESTINATIONS: JSON.stringify(destinations ?? {}),
  });
  const dest = destinations ? createDestinations(cfg, quiet) : undefined;
  const app = createWorkerApp(cfg, quiet, dest?.hooks);
  const queue = new Queue(cfg.INVOKE_QUEUE, {
    connection: redisClient(),
    prefix: cfg.BULLMQ_PREFIX,
  });
  await app.worker.waitUntilReady();
  const added = await queue.addBulk(
    jobs.map((j) => ({
      name: 'invoke',
      data: jobData({ request: { url: j.url } }),
      opts: { attempts: 1, removeOnComplete: false },
    })),
  );
  while (((await queue.getJobCounts('completed')).completed ?? 0) < jobs.length)
    await new Promise((r) => setTimeout(r, 20));
  const done = (await Promise.all(added.map((j) => queue.getJob(j.id!)))) as Job[];
  await app.close(5000);
  await dest?.close();
  await queue.close();
  await (queue.opts.connection as { quit(): Promise<unknown> }).quit();
  await cleanNamespace(redis, ns);
  return done;
}

async function throughput(up: Upstream): Promise<void> {
  const jobs = Array.from({ length: JOBS }, () => ({ url: `${up.url}/x` }));
  const rate = (done: Job[]) =>
    done.length /
    ((Math.max(...done.map((j) => j.finishedOn!)) - Math.min(...done.map((j) => j.timestamp))) /
      1000);
  const base: number[] = [];
  const lim: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    base.push(rate(await runJobs(undefined, 50, jobs)));
    lim.push(rate(await runJobs(GENEROUS, 50, jobs)));
  }
  const [b, l] = [median(base), median(lim)];
  console.log(
    `| worker, ${JOBS} jobs, concurrency 50 (median of ${ROUNDS}) | ${fmt(b)} jobs/s | ${fmt(l)} jobs/s | ${(l / b).toFixed(2)} | throughput with / without |`,
  );
}

async function isolation(slow: Upstream, fast: Upstream): Promise<void> {
  const jobs = [
    ...Array.from({ length: 40 }, () => ({ url: `${slow.url}/s` })),
    ...Array.from({ length: 40 }, () => ({ url: `${fast.url}/f` })),
  ];
  const pct = (xs: number[], q: number) =>
    [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))]!;
  const fastLatency = (done: Job[]) =>
    done.filter((j) => j.data.request.url.endsWith('/f')).map((j) => j.finishedOn! - j.timestamp);
  const without = fastLatency(await runJobs(undefined, 4, jobs));
  const withCap = fastLatency(
    await runJobs(
      { default: { breaker: false }, hosts: { [`127.0.0.1:${slow.port}`]: { maxConcurrent: 2 } } },
      4,
      jobs,
    ),
  );
  console.log(
    `| isolation: unlimited host p50 / p95 while a slow host has 40 queued (worker concurrency 4) | ${pct(without, 0.5)} / ${pct(without, 0.95)} ms | ${pct(withCap, 0.5)} / ${pct(withCap, 0.95)} ms | ${(pct(without, 0.95) / pct(withCap, 0.95)).toFixed(1)}x faster p95 | slow host capped at 2 in flight |`,
  );
}

const up = await startUpstream((_r, res) => json(res, 200, { ok: true }));
const slow = await startUpstream((_r, res) => void setTimeout(() => json(res, 200, {}), 400));
console.log(
  `| measurement | without limiter | with limiter | ratio | note |\n| --- | --- | --- | --- | --- |`,
);
await perCall(up, 1);
await perCall(up, 50);
await throughput(up);
await isolation(slow, up);
console.log(
  `\nnode ${process.version}, ${os.cpus().length} cores, load average at the end ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ')}, ${CALLS} calls, ${JOBS} jobs`,
);
await Promise.all([up.close(), slow.close()]);
await redis.quit();
