/**
 * One measurement: one worker kind against one scenario on a fresh namespace.
 *
 *   prefilled  the queue is paused, filled, the worker started, then the queue resumed; jobs/s
 *              and CPU are taken between the 10th and 100th percent of the measured completions
 *              (the first 20 % are warm-up: JIT, sockets, BullMQ's fetch ramp). With keepDepth the
 *              driver tops the queue up so the waiting count stays near the prefill.
 *   open loop  jobs are enqueued at a fixed rate while the worker runs; enqueue-to-event
 *              latency is the event's time (its stream entry ID: Redis's clock when the XADD
 *              ran) minus the enqueue time carried in the job's runId. The driver reads events
 *              with XREAD BLOCK, but its own read delay (a consumer's, not the worker's, and
 *              inflated by the driver sharing 2 cores with Redis, the upstream and the worker)
 *              is reported apart as readDelayP99, not counted. The jobs enqueued in the first OPEN_LOOP_WARMUP_S
 *              seconds are warm-up: their latency is reported apart (coldP99), not measured.
 * Completion is our continuation event for naive/ours, BullMQ's own 'completed' event for empty.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { enqueuedAt, makeJobs, type JobKind } from './jobs.js';
import { startChild, stopChild } from './infra.js';
import { startService, type WorkerProcess } from './service.js';

/** base: ours built in another checkout (--base=DIR), for A/B runs of two builds side by side. */
export type WorkerKind = 'empty' | 'naive' | 'ours' | 'base';

/**
 * A fresh process at a high rate falls behind while its code is still cold (JIT, first sockets,
 * first script loads) and then drains that backlog only as fast as its headroom allows: at 50 %
 * of max, ours took ~2 s to get back to steady state (a count-based 10 % skip, 0.4 s there, left
 * that backlog in the p99: 240-420 ms against 13-31 ms per half-second window afterwards).
 */
export const OPEN_LOOP_WARMUP_S = 5;

export interface Scenario {
  id: string;
  title: string;
  upstreamMs: 0 | 100;
  concurrency: number;
  job: JobKind;
  /** Jobs waiting when the worker starts (prefilled mode). */
  prefill: number;
  /** Completions to measure. */
  measure: number;
  keepDepth?: boolean;
  /** Open loop: enqueue at this fraction of ours' measured max throughput for `measure` jobs. */
  loadFraction?: number;
  /** Open loop at this many jobs/s. */
  fixedRate?: number;
  memory?: boolean;
  /** Extra environment for ours (a feature switched off to measure what it costs). */
  oursEnv?: Record<string, string>;
  /** Environment the scenario's jobs need in ours and base (the secrets they read). */
  serviceEnv?: Record<string, string>;
  /** Runs on the fresh namespace before the worker starts (e.g. stores a tenant's secret). */
  setup?: (redis: Redis, ns: { vaultPrefix: string }) => Promise<void>;
}

export interface Result {
  worker: WorkerKind;
  jobsPerSec: number;
  latency: { p50: number; p95: number; p99: number } | undefined;
  /** Open loop: p99 of the warm-up jobs (a fresh process's first OPEN_LOOP_WARMUP_S seconds). */
  coldP99?: number;
  /** Open loop: p99 of the driver's XREAD arrival minus the event's stream time. */
  readDelayP99?: number;
  /** Open loop: the latency split at BullMQ's processedOn (the moveToActive that handed the job to the worker). */
  split?: { pickup: Percentiles; processing: Percentiles };
  cpuSecPer1k: number;
  peakRssMb: number;
  memBytesPerJob: number | undefined;
  rate?: number;
  /** Set by the runner: this worker's jobs/s (or p99, open loop) in every run of the scenario. */
  runs?: number[];
  /** Set by the runner: this worker's CPU s/1k jobs in every run of the scenario. */
  cpuRuns?: number[];
}

export interface Env {
  redisUrl: string;
  ownedRedis: boolean;
  upstreams: Record<number, string>;
  nodeArgs: string[];
  logFile: string;
  /** The checkout whose build runs as worker 'base'. */
  baseDir?: string | undefined;
}

let runs = 0;

/** A queue, prefix, context prefix and stream of the bench's own; a Queue to fill it. */
export interface Namespace {
  id: string;
  queue: Queue;
  prefix: string;
  ctx: string;
  stream: string;
  added: number;
  close(): Promise<void>;
}

export async function openNamespace(env: Env): Promise<Namespace> {
  const id = `${process.pid}-${++runs}`;
  const prefix = `bench:${id}:bull`;
  // A long BullMQ event stream so the driver never misses a 'completed' entry to trimming.
  const queue = new Queue('invoke-api', {
    connection: new Redis(env.redisUrl, { maxRetriesPerRequest: null }),
    prefix,
    streams: { events: { maxLen: 2_000_000 } },
  });
  await queue.waitUntilReady();
  return {
    id,
    queue,
    prefix,
    ctx: `bench:${id}:ctx`,
    stream: `bench:${id}:continuations`,
    added: 0,
    async close() {
      await queue.close();
      const admin = queue.opts.connection as Redis;
      await cleanup(admin, env.ownedRedis, `bench:${id}:*`);
      await admin.quit();
    },
  };
}

async function addJobs(ns: Namespace, sc: Scenario, upstream: string, n: number): Promise<void> {
  ns.added += n;
  for (let i = 0; i < n; i += 1000)
    await ns.queue.addBulk(makeJobs(sc.job, upstream, Math.min(1000, n - i)));
}

/**
 * One run. With `shared` (the depth scenarios) the namespace, already holding `prefill` waiting
 * jobs, is reused from run to run and left paused and topped up for the next; otherwise the run
 * has a fresh one, removed at the end.
 */
export async function measure(
  env: Env,
  sc: Scenario,
  worker: WorkerKind,
  rate?: number,
  shared?: Namespace,
): Promise<Result> {
  const ns = shared ?? (await openNamespace(env));
  const admin = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
  const reader = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
  const queue = ns.queue;
  try {
    const memBefore = await usedMemory(admin);
    const upstream = env.upstreams[sc.upstreamMs]!;
    const add = (n: number) => addJobs(ns, sc, upstream, n);
    if (rate === undefined) {
      await queue.pause();
      // A shared (depth) namespace starts each run without the previous runs' finished jobs:
      // otherwise the worker with a retention limit pays for trimming the others' leftovers.
      if (shared) while ((await queue.clean(0, 10_000, 'completed')).length > 0);
      const waiting = await queue.getWaitingCount();
      if (waiting < sc.prefill) await add(sc.prefill - waiting);
    }
    const vaultPrefix = `bench:${ns.id}:vault`;
    if (sc.setup) await sc.setup(admin, { vaultPrefix });
    const workerEnv = {
      REDIS_URL: env.redisUrl,
      INVOKE_QUEUE: queue.name,
      BULLMQ_PREFIX: ns.prefix,
      INVOKE_CTX_PREFIX: ns.ctx,
      INVOKE_EVENTS_STREAM: ns.stream,
      INVOKE_VAULT_PREFIX: vaultPrefix,
      INVOKE_CONCURRENCY: String(sc.concurrency),
      INVOKE_ALLOW_PRIVATE: '127.0.0.1/32',
      LOG_LEVEL: process.env.BENCH_OURS_LOG_LEVEL ?? 'info',
      BENCH_LOG_FILE: env.logFile,
      ...(worker === 'ours' || worker === 'base' ? sc.serviceEnv : undefined),
      ...(worker === 'ours' ? sc.oursEnv : undefined),
    };
    const child =
      worker === 'ours' || worker === 'base'
        ? await startService(
            workerEnv,
            env.logFile,
            env.nodeArgs,
            worker === 'base' ? env.baseDir : '.',
          )
        : await startIpcWorker(worker, workerEnv, env.nodeArgs);
    try {
      const streamKey = worker === 'empty' ? `${ns.prefix}:${queue.name}:events` : ns.stream;
      let lastId = (await reader.xrevrange(streamKey, '+', '-', 'COUNT', 1))[0]?.[0] ?? '0-0';
      const addedAtStart = ns.added;

      // Warm-up excluded: 20 % of a prefilled run; an open-loop run's first OPEN_LOOP_WARMUP_S
      // seconds of jobs, added on top of the measured ones.
      const skip =
        rate === undefined ? Math.floor(sc.measure * 0.2) : Math.round(rate * OPEN_LOOP_WARMUP_S);
      const total = rate === undefined ? sc.measure : skip + sc.measure;
      // CPU is counted over the same window as jobs/s: warm-up (JIT, sockets) excluded alike.
      if (skip === 0) child.mark();
      let count = 0;
      let tSkip = Date.now();
      const latencies: number[] = [];
      const coldLatencies: number[] = [];
      const readDelays: number[] = [];
      const measured: Array<{ jobId: string; enqueued: number; emitted: number }> = [];
      let feeding: Promise<void> = Promise.resolve();
      let stopFeeding = false;
      if (rate === undefined) await queue.resume();
      else feeding = feed(rate, total, add, () => stopFeeding);
      let topping = false;

      while (count < total) {
        const reply = await reader.xread(
          'COUNT',
          2000,
          'BLOCK',
          30_000,
          'STREAMS',
          streamKey,
          lastId,
        );
        if (!reply)
          throw new Error(`${worker}/${sc.id}: no event for 30 s after ${count} of ${total}`);
        const now = Date.now();
        for (const [entryId, fields] of reply[0]![1]) {
          lastId = entryId;
          const f = toMap(fields);
          if (worker === 'empty' && f.event !== 'completed') continue;
          // A failed job emits too: a run of failures (a secret the set-up missed) measures nothing.
          if (f.type === 'invoke.failed')
            throw new Error(
              `${worker}/${sc.id}: job ${f.jobId} failed (${f.errorCode}): the scenario's set-up is wrong`,
            );
          count++;
          if (count === skip) {
            tSkip = now;
            child.mark();
          }
          // The entry ID's first part is the ms time of the XADD on Redis's clock (same host).
          const emittedAt = Number(entryId.slice(0, entryId.indexOf('-')));
          const enqueued = enqueuedAt(f.jobId ?? '');
          (count > skip ? latencies : coldLatencies).push(emittedAt - enqueued);
          if (count > skip && rate !== undefined) {
            readDelays.push(now - emittedAt);
            if (f.jobId) measured.push({ jobId: f.jobId, enqueued, emitted: emittedAt });
          }
        }
        // Depth scenarios: keep about `prefill` jobs waiting while the worker drains them.
        if (sc.keepDepth && !topping && ns.added - addedAtStart - count < -500) {
          topping = true;
          void add(500).finally(() => (topping = false));
        }
      }
      const tEnd = Date.now();
      stopFeeding = true;
      const split =
        rate !== undefined
          ? await pickupSplit(admin, `${ns.prefix}:${queue.name}`, measured.slice(-5_000))
          : undefined;
      const report = await child.report();
      await queue.pause();
      await feeding;
      await child.stop();
      while (topping) await new Promise((r) => setTimeout(r, 20));

      let memBytesPerJob: number | undefined;
      if (sc.memory) {
        // BullMQ's event stream is capped at 10,000 in production; trim our long one before counting.
        await admin.xtrim(`${ns.prefix}:${queue.name}:events`, 'MAXLEN', 0);
        const retained = await admin.zcard(`${ns.prefix}:${queue.name}:completed`);
        memBytesPerJob =
          retained > 0 ? ((await usedMemory(admin)) - memBefore) / retained : undefined;
      }
      const lat =
        rate !== undefined ? percentiles(latencies.map((l) => l - sc.upstreamMs)) : undefined;
      const cold =
        rate !== undefined ? percentiles(coldLatencies.map((l) => l - sc.upstreamMs)) : undefined;
      return {
        worker,
        jobsPerSec: (count - skip) / Math.max(0.001, (tEnd - tSkip) / 1000),
        latency: lat,
        ...(cold ? { coldP99: cold.p99 } : {}),
        ...(rate !== undefined ? { readDelayP99: percentiles(readDelays).p99 } : {}),
        ...(split ? { split } : {}),
        cpuSecPer1k: report.cpuMs / Math.max(1, count - skip),
        peakRssMb: report.maxRssKb / 1024,
        memBytesPerJob,
        ...(rate !== undefined ? { rate } : {}),
      };
    } finally {
      await stopChild(child.proc);
    }
  } finally {
    if (!shared) await ns.close();
    await Promise.all([admin.quit(), reader.quit()]);
  }
}

/** empty and naive: scripts/bench/worker-child.ts, driven over IPC. */
async function startIpcWorker(
  kind: WorkerKind,
  env: Record<string, string>,
  nodeArgs: string[],
): Promise<WorkerProcess> {
  const child = startChild('worker-child.ts', [kind], env, nodeArgs);
  await child.next('ready');
  return {
    proc: child.proc,
    mark: () => child.proc.send({ type: 'mark' }),
    report: () => child.request<{ cpuMs: number; maxRssKb: number }>({ type: 'report' }, 'report'),
    async stop() {
      const exited = new Promise((r) => child.proc.once('exit', r));
      child.proc.send({ type: 'stop' });
      await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
      await stopChild(child.proc);
    },
  };
}

/**
 * Open-loop producer: adds what is due every ~2 ms until `total` jobs are in, so jobs arrive
 * one or two at a time as a journey engine would send them (a 10 ms tick added them in bursts
 * of ~10 that waited behind each other: ~9 ms of the p99 was the driver's own batching).
 */
async function feed(
  rate: number,
  total: number,
  add: (n: number) => Promise<void>,
  stopped: () => boolean,
): Promise<void> {
  const start = Date.now();
  let sent = 0;
  while (sent < total && !stopped()) {
    const due = Math.min(total, Math.floor(((Date.now() - start) / 1000) * rate));
    if (due > sent) {
      const n = due - sent;
      sent = due;
      await add(n);
    }
    await new Promise((r) => setTimeout(r, 2));
  }
}

const toMap = (fields: string[]) => {
  const m: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) m[fields[i]!] = fields[i + 1]!;
  return m;
};

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN);
}

export type Percentiles = { p50: number; p95: number; p99: number };

/**
 * Where an open-loop job's time went: enqueue to processedOn (waiting, the worker's blocking
 * fetch and moveToActive: the queue's share) and processedOn to the event (the processor's
 * share). Read from the job hashes still retained (ours keeps the newest 10,000 completed).
 */
async function pickupSplit(
  redis: Redis,
  queueKey: string,
  jobs: Array<{ jobId: string; enqueued: number; emitted: number }>,
) {
  const pipeline = redis.pipeline();
  for (const j of jobs) pipeline.hget(`${queueKey}:${j.jobId}`, 'processedOn');
  const replies = (await pipeline.exec()) ?? [];
  const pickup: number[] = [];
  const processing: number[] = [];
  replies.forEach(([, v], i) => {
    const on = Number(v);
    if (!v || !Number.isFinite(on)) return;
    pickup.push(on - jobs[i]!.enqueued);
    processing.push(jobs[i]!.emitted - on);
  });
  return pickup.length
    ? { pickup: percentiles(pickup), processing: percentiles(processing) }
    : undefined;
}

export function percentiles(values: number[]): Percentiles {
  const s = [...values].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
  return { p50: at(50), p95: at(95), p99: at(99) };
}

async function cleanup(redis: Redis, owned: boolean, pattern: string): Promise<void> {
  if (owned) {
    await redis.flushall();
    return;
  }
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
}
