/**
 * Fair-share benchmark (docs/benchmarks.md, "Fair share"). A loopback partner in a child
 * process; a real worker (createWorkerApp, concurrency 100) and the client in this one; each figure next to its
 * baseline measured in the same run, rounds interleaved, medians reported.
 *
 *   1. throughput, one tenant: jobs/s draining a backlog enqueued with fair share on vs off
 *      (partner answers at once).
 *   2. head of line: latency (enqueue -> completed) of a small tenant's step and of another
 *      journey of the blasting tenant, alone vs behind a blast of 50,000 x scale jobs, with fair
 *      share on; and one step behind the same blast without it (first-in first-out).
 *   3. cost by tenants with waiting work (1, 100, 10,000): drain jobs/s and the Redis memory of
 *      the fair index (MEMORY USAGE of its keys) and of the whole queue, per job.
 *
 * Run: npx tsx scripts/bench-fair.ts [--scale=0.1] [--concurrency=100] [--only=throughput,hol,tenants]
 *      (Redis on REDIS_URL; ROUNDS=3)
 */
import { Writable } from 'node:stream';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { createScrubber } from '../src/template/secrets.js';
import { createWorkerApp, type WorkerApp } from '../src/app.js';
import { createInvokeClient } from '../src/client/create-invoke-client.js';
import {
  cleanNamespace,
  namespace,
  namespaceKeys,
  redisClient,
  type Namespace,
} from '../test/helpers/redis.js';
import { startUpstream, type Upstream } from './bench/infra.js';
import { jobData } from '../test/helpers/harness.js';

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const SCALE = Number(arg('scale') ?? 1);
const ONLY = (arg('only') ?? 'throughput,hol,tenants').split(',');
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const CONCURRENCY = Number(arg('concurrency') ?? 100);
const quiet = createLogger(
  'warn',
  createScrubber(new Map()),
  new Writable({ write: (_c, _e, cb) => cb() }),
);
const redis = redisClient();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Rig {
  ns: Namespace;
  app: WorkerApp;
  client: ReturnType<typeof createInvokeClient>;
  close(): Promise<void>;
}

function rig(
  fairShare: boolean,
  ns = namespace('bfair'),
): Omit<Rig, 'app'> & { startWorker(): WorkerApp } {
  const cfg = loadConfig({
    ...ns.env,
    INVOKE_ALLOW_PRIVATE: '127.0.0.1/32',
    INVOKE_CONCURRENCY: String(CONCURRENCY),
    LOG_LEVEL: 'warn',
  });
  const client = createInvokeClient({
    connection: redisClient(),
    queue: ns.queue,
    prefix: ns.prefix,
    fairShare,
    // Every completed job kept: completions are counted in the completed set, and the default
    // retention (10,000) would stop a 20,000-job drain from ever reaching its count.
    jobOptions: { removeOnComplete: false },
  });
  let app: WorkerApp | undefined;
  return {
    ns,
    client,
    startWorker: () => (app = createWorkerApp(cfg, quiet)),
    async close() {
      await app?.close(5000);
      await client.close();
      await (client.queue.opts.connection as { quit(): Promise<unknown> }).quit();
      await cleanNamespace(redis, ns);
    },
  };
}

const step = (up: Upstream, tenantId: string, journeyId: string, n: number, tag = '') =>
  jobData({
    tenantId,
    journeyId,
    runId: `${tenantId}-${journeyId}-${n}${tag}`,
    request: { url: `${up.url}/${tenantId}` },
  });

async function completed(r: Pick<Rig, 'client'>): Promise<number> {
  return (await r.client.queue.getJobCounts('completed')).completed ?? 0;
}

/** jobs/s running the first `measured` of `n` jobs enqueued before the worker starts. */
async function drain(
  fairShare: boolean,
  jobs: (i: number) => ReturnType<typeof step>,
  n: number,
  measured = n,
) {
  const r = rig(fairShare);
  for (let i = 0; i < n; i += 5000)
    await r.client.enqueueMany(
      Array.from({ length: Math.min(5000, n - i) }, (_, j) => jobs(i + j)),
    );
  const memory = await memoryOf(r.ns);
  const t0 = performance.now();
  r.startWorker();
  while ((await completed(r)) < measured) await sleep(20);
  const perSec = measured / ((performance.now() - t0) / 1000);
  await r.close();
  return { perSec, memory };
}

/** Bytes (MEMORY USAGE) of the namespace's keys: the fair index's, and all. */
async function memoryOf(ns: Namespace): Promise<{ fair: number; all: number }> {
  let fair = 0;
  let all = 0;
  for (const key of await namespaceKeys(redis, ns)) {
    const bytes = Number(await redis.memory('USAGE', key)) || 0;
    all += bytes;
    if (key.includes(':fair:')) fair += bytes;
  }
  return { fair, all };
}

async function throughput(up: Upstream) {
  const n = Math.round(20_000 * SCALE);
  const on: number[] = [];
  const off: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Interleaved, alternating which goes first, so load changes hit both alike.
    const order = round % 2 ? [true, false] : [false, true];
    for (const fair of order)
      (fair ? on : off).push(
        (await drain(fair, (i) => step(up, 'solo', 'j', i, `-${round}`), n)).perSec,
      );
  }
  console.log(
    `throughput, one tenant, ${n} jobs, concurrency ${CONCURRENCY}: fair off ${off.map(Math.round).join('/')} jobs/s, on ${on.map(Math.round).join('/')} jobs/s; median ratio on/off ${(median(on) / median(off)).toFixed(2)}`,
  );
}

/** Latency of `probes` steps, one at a time, each from enqueue to completed (job timestamps). */
async function probe(
  r: Pick<Rig, 'client'>,
  make: (i: number) => ReturnType<typeof step>,
  probes: number,
): Promise<number[] & { waits?: number[] }> {
  const out: number[] & { waits?: number[] } = [];
  out.waits = [];
  for (let i = 0; i < probes; i++) {
    const { jobId } = await r.client.enqueue(make(i));
    for (;;) {
      const job = await r.client.queue.getJob(jobId);
      if (job?.finishedOn) {
        out.push(job.finishedOn - job.timestamp);
        out.waits!.push(job.processedOn! - job.timestamp);
        break;
      }
      await sleep(5);
    }
  }
  return out;
}

async function headOfLine(up: Upstream) {
  const blast = Math.round(50_000 * SCALE);
  const probes = 20;
  const fmt = (xs: number[] & { waits?: number[] }) =>
    `p50 ${median(xs)} ms, p95 ${pct(xs, 0.95)} ms (before start: p50 ${median(xs.waits!)}, p95 ${pct(xs.waits!, 0.95)})`;
  const alone = rig(true);
  alone.startWorker();
  const aloneB = await probe(alone, (i) => step(up, 'small', 'orders', i, '-alone'), probes);
  const aloneA = await probe(alone, (i) => step(up, 'big', 'welcome', i, '-alone'), probes);
  await alone.close();

  const fair = rig(true);
  for (let i = 0; i < blast; i += 5000)
    await fair.client.enqueueMany(
      Array.from({ length: Math.min(5000, blast - i) }, (_, j) => step(up, 'big', 'promo', i + j)),
    );
  fair.startWorker();
  while ((await completed(fair)) < 2 * CONCURRENCY) await sleep(20);
  const [behindB, behindA] = await Promise.all([
    probe(fair, (i) => step(up, 'small', 'orders', i, '-behind'), probes),
    probe(fair, (i) => step(up, 'big', 'welcome', i, '-behind'), probes),
  ]);
  const blastLeft = blast - (await completed(fair));
  await fair.close();

  const fifo = rig(false);
  for (let i = 0; i < blast; i += 5000)
    await fifo.client.enqueueMany(
      Array.from({ length: Math.min(5000, blast - i) }, (_, j) => step(up, 'big', 'promo', i + j)),
    );
  fifo.startWorker();
  while ((await completed(fifo)) < 2 * CONCURRENCY) await sleep(20);
  const fifoB = await probe(fifo, (i) => step(up, 'small', 'orders', i, '-fifo'), 1);
  await fifo.close();

  console.log(
    `head of line, partner 100 ms, concurrency ${CONCURRENCY}, blast ${blast} (still ${blastLeft} waiting when the probes were done):`,
  );
  console.log(
    `  small tenant's step  alone: ${fmt(aloneB)}; behind the blast, fair share: ${fmt(behindB)} (p95 ratio ${(pct(behindB, 0.95) / pct(aloneB, 0.95)).toFixed(2)})`,
  );
  console.log(
    `  big tenant's other journey  alone: ${fmt(aloneA)}; behind the blast, fair share: ${fmt(behindA)} (p95 ratio ${(pct(behindA, 0.95) / pct(aloneA, 0.95)).toFixed(2)})`,
  );
  console.log(
    `  small tenant's step behind the blast, first-in first-out (fair share off): ${fifoB[0]} ms`,
  );
}

async function tenants(up: Upstream) {
  // 10,000 jobs waiting whatever the scale (one per tenant at 10,000); the drain rate is taken
  // over the first 20,000 x scale of them.
  const n = 10_000;
  const measured = Math.min(n, Math.round(20_000 * SCALE));
  for (const count of [1, 100, 10_000]) {
    const rates: number[] = [];
    let mem = { fair: 0, all: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const r = await drain(
        true,
        (i) => step(up, `t${i % count}`, 'j', i, `-${round}`),
        n,
        measured,
      );
      rates.push(r.perSec);
      mem = r.memory;
    }
    console.log(
      `tenants ${count}: ${n} jobs waiting, first ${measured} run at ${rates.map(Math.round).join('/')} jobs/s (median ${Math.round(median(rates))}); fair index ${(mem.fair / 1024).toFixed(0)} KiB (${(mem.fair / n).toFixed(0)} B/job), queue total ${(mem.all / 1024 / 1024).toFixed(1)} MiB (${(mem.all / n).toFixed(0)} B/job)`,
    );
  }
}

async function main() {
  // The partner runs in its own process, so its CPU is not billed to the worker under test.
  const fast = await startUpstream(0);
  const slow = await startUpstream(100);
  console.log(`fair-share bench: scale ${SCALE}, rounds ${ROUNDS}, ${new Date().toISOString()}`);
  if (ONLY.includes('throughput')) await throughput(fast);
  if (ONLY.includes('hol')) await headOfLine(slow);
  if (ONLY.includes('tenants')) await tenants(fast);
  await fast.stop();
  await slow.stop();
  await redis.quit();
}

await main();
