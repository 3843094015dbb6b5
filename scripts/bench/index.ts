/**
 * npm run bench [-- --quick] [--only=id,id] [--workers=empty,naive,ours] [--repeat=2] [--profile] [--no-docs]
 *                 [--base=DIR]  (A/B: worker "base" is ours built in DIR, e.g. --workers=ours,base)
 *                 [--scale=F]   (job counts times F: shorter runs for many-round A/B comparisons)
 *                 [--max=N]  (ours' max jobs/s for the half-load scenario when `instant` is not in the run)
 *
 * Measures, side by side in one run, (a) a BullMQ worker with an empty processor, (b) a naive
 * got + HSET + XADD worker and (c) this project's worker with production defaults, each in its
 * own process, against a loopback upstream in another process and a redis-server of our own
 * (or REDIS_URL). Prints a table, checks the targets as ratios within this run (absolute
 * numbers move with whatever else the machine is doing), and writes our section of
 * docs/benchmarks.md. --quick is the CI smoke: small counts, exits 1 if ours falls under half
 * the naive worker's throughput anywhere (an order-of-magnitude regression, not a timing test).
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRedis, startUpstream } from './infra.js';
import { cold, describeEnqueue, measureEnqueue, warm, type EnqueueTimes } from './enqueue.js';
import {
  measure,
  openNamespace,
  OPEN_LOOP_WARMUP_S,
  type Env,
  type Result,
  type Scenario,
  type WorkerKind,
} from './measure.js';
import { startArgs } from '../start-command.js';
import { machine, markdownTable, textTable, writeDocs, type Row } from './report.js';
import { SECRETS_ENV, storeTenantSecret } from './secrets.js';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const option = (name: string) =>
  args
    .find((a) => a.startsWith(`--${name}=`))
    ?.split('=')[1]
    ?.split(',');
const quick = flag('quick');

// Long enough that the measured window (after the first 20 %) is the JIT-warm steady state a
// service runs in: ours has more code to warm up, and at 6,000 jobs a third of its window was
// still warming (zod's first 2,000 parses averaged 39 us, the rest 7 us). Memory is measured
// where every job is still retained (ours keeps the newest 10,000 completed jobs).
const full: Scenario[] = [
  {
    id: 'instant',
    title: 'instant upstream, c=100',
    upstreamMs: 0,
    concurrency: 100,
    job: 'small',
    prefill: 20_000,
    measure: 20_000,
  },
  {
    id: 'slow200',
    title: '100 ms upstream, c=200',
    upstreamMs: 100,
    concurrency: 200,
    job: 'small',
    prefill: 12_000,
    measure: 12_000,
  },
  {
    id: 'slow1000',
    title: '100 ms upstream, c=1000',
    upstreamMs: 100,
    concurrency: 1000,
    job: 'small',
    prefill: 20_000,
    measure: 20_000,
  },
  {
    id: 'depth1k',
    title: 'depth 1k waiting, c=100',
    upstreamMs: 0,
    concurrency: 100,
    job: 'small',
    prefill: 1_000,
    measure: 20_000,
    keepDepth: true,
  },
  {
    id: 'depth100k',
    title: 'depth 100k waiting, c=100',
    upstreamMs: 0,
    concurrency: 100,
    job: 'small',
    prefill: 100_000,
    measure: 20_000,
    keepDepth: true,
  },
  {
    id: 'templates',
    title: '20 vars, 10 KiB body, c=100',
    upstreamMs: 0,
    concurrency: 100,
    job: 'templated',
    prefill: 9_000,
    measure: 9_000,
    memory: true,
  },
  {
    id: 'memory',
    title: 'small jobs, memory, c=100',
    upstreamMs: 0,
    concurrency: 100,
    job: 'small',
    prefill: 9_000,
    measure: 9_000,
    memory: true,
  },
  {
    id: 'norecords',
    title: 'small jobs, memory, attempt records off, c=100',
    upstreamMs: 0,
    concurrency: 100,
    job: 'small',
    prefill: 9_000,
    measure: 9_000,
    memory: true,
    oursEnv: { INVOKE_ATTEMPT_RECORDS: '0' },
  },
  {
    id: 'expect',
    title: 'instant, expect.success rule, c=100',
    upstreamMs: 0,
    concurrency: 100,
    job: 'expect',
    prefill: 20_000,
    measure: 20_000,
  },
  {
    id: 'cachehit',
    title: 'instant, 100 % cache hits, c=100',
    upstreamMs: 0,
    concurrency: 100,
    job: 'cached',
    prefill: 20_000,
    measure: 20_000,
  },
  {
    id: 'envsecret',
    title: 'instant, environment secret in a header, c=100',
    upstreamMs: 0,
    concurrency: 100,
    job: 'envsecret',
    prefill: 20_000,
    measure: 20_000,
    serviceEnv: SECRETS_ENV,
  },
  {
    id: 'tenantsecret',
    title: 'instant, tenant secret in a header, c=100',
    upstreamMs: 0,
    concurrency: 100,
    job: 'tenantsecret',
    prefill: 20_000,
    measure: 20_000,
    serviceEnv: SECRETS_ENV,
    setup: (redis, ns) => storeTenantSecret(redis, ns.vaultPrefix),
  },
  {
    id: 'latency',
    title: 'latency at 50% of max, c=100',
    upstreamMs: 0,
    concurrency: 100,
    job: 'small',
    prefill: 0,
    measure: 8_000,
    loadFraction: 0.5,
  },
  {
    id: 'latency500',
    title: 'latency at 500 jobs/s, c=100',
    upstreamMs: 0,
    concurrency: 100,
    job: 'small',
    prefill: 0,
    measure: 5_000,
    fixedRate: 500,
  },
];
const short: Scenario[] = [
  { ...full[0]!, prefill: 3_000, measure: 3_000 },
  { ...full[5]!, prefill: 1_000, measure: 1_000 },
];

/**
 * Runs every worker `repeat` times, alternating the order (a, b, c, c, b, a) so drift in the
 * machine's load falls on all alike, and keeps each worker's best run (highest jobs/s; lowest
 * p99 in the latency scenario): the least disturbed measurement of each.
 */
async function runScenario(
  env: Env,
  sc: Scenario,
  workers: WorkerKind[],
  repeat: number,
  rate: number | undefined,
): Promise<Result[]> {
  const shared = sc.keepDepth ? await openNamespace(env) : undefined;
  const best = new Map<WorkerKind, Result>();
  const runs = new Map<WorkerKind, number[]>(workers.map((w) => [w, []]));
  const cpuRuns = new Map<WorkerKind, number[]>(workers.map((w) => [w, []]));
  const better = (a: Result, b: Result) =>
    a.latency && b.latency ? a.latency.p99 < b.latency.p99 : a.jobsPerSec > b.jobsPerSec;
  try {
    for (let round = 0; round < repeat; round++) {
      for (const w of round % 2 ? [...workers].reverse() : workers) {
        const r = await measure(env, sc, w, rate, shared);
        runs.get(w)!.push(r.latency ? r.latency.p99 : Math.round(r.jobsPerSec));
        cpuRuns.get(w)!.push(Number(r.cpuSecPer1k.toFixed(3)));
        const prev = best.get(w);
        if (!prev || better(r, prev)) best.set(w, r);
      }
    }
  } finally {
    await shared?.close();
  }
  // The best run is what the table shows; every run's figure goes on the check lines, so the
  // spread behind a best-of-N is in plain sight.
  return workers.map((w) => ({ ...best.get(w)!, runs: runs.get(w)!, cpuRuns: cpuRuns.get(w)! }));
}

/** " (runs: ours 5928/5800/5702, naive ...)": each worker's figure in every run, in run order. */
function spread(results: Result[], workers: readonly WorkerKind[], unit: string): string {
  const parts = workers
    .map((w) => results.find((r) => r.worker === w))
    .filter((r) => r?.runs && r.runs.length > 1)
    .map((r) => `${r!.worker} ${r!.runs!.join('/')}`);
  return parts.length ? ` (every run, ${unit}: ${parts.join(', ')})` : '';
}

function checks(
  rows: Row[],
  wide: boolean,
  enqueue: EnqueueTimes | undefined,
): { ok: boolean; lines: string[] } {
  const lines: string[] = [];
  let ok = true;
  const check = (pass: boolean, text: string) => {
    ok &&= pass;
    lines.push(`${pass ? 'PASS' : 'FAIL'}  ${text}`);
  };
  const min = wide ? 0.5 : 0.9;
  for (const { scenario, results } of rows) {
    const [naive, ours] = (['naive', 'ours'] as const).map((w) =>
      results.find((r) => r.worker === w),
    );
    // In the open-loop scenario every worker runs at the same fixed rate: no throughput ratio.
    if (naive && ours && scenario.loadFraction === undefined && scenario.fixedRate === undefined)
      check(
        ours.jobsPerSec >= min * naive.jobsPerSec,
        `${scenario.title}: ours ${(ours.jobsPerSec / naive.jobsPerSec).toFixed(2)}x naive (target >= ${min}x)${spread(results, ['ours', 'naive'], 'jobs/s')}`,
      );
    if (!wide && ours && scenario.id === 'slow200') {
      const bound = scenario.concurrency / (scenario.upstreamMs / 1000);
      const runsMet =
        ours.runs && ours.runs.length > 1
          ? `; met in ${ours.runs.filter((n) => n >= 0.9 * bound).length} of ${ours.runs.length} runs: ${ours.runs.join('/')}`
          : '';
      check(
        ours.jobsPerSec >= 0.9 * bound,
        `${scenario.title}: ours ${Math.round(ours.jobsPerSec)} jobs/s = ${(ours.jobsPerSec / bound).toFixed(2)}x of concurrency/latency ${bound} (target >= 0.9x${runsMet})`,
      );
    }
    if (!wide && ours?.latency) {
      const others = (['empty', 'naive'] as const)
        .map((w) => results.find((r) => r.worker === w))
        .filter((r) => r?.latency)
        .map((r) => `${r!.worker} ${r!.latency!.p99} ms`);
      const coldText =
        ours.coldP99 === undefined
          ? ''
          : ` (first ${OPEN_LOOP_WARMUP_S} s of a fresh process, not measured: p99 ${ours.coldP99} ms; the driver's own XREAD delay after the XADD, not counted: p99 ${ours.readDelayP99} ms)`;
      const text = `${scenario.title}: ours p99 enqueue-to-event overhead ${ours.latency.p99} ms (target < 20 ms)${others.length ? `; ${others.join(', ')}` : ''}${coldText}`;
      // The target is at half of the max; the fixed lower rate is reported for context.
      const runsMet =
        ours.runs && ours.runs.length > 1
          ? `; met in ${ours.runs.filter((p99) => p99 < 20).length} of ${ours.runs.length} runs`
          : '';
      if (scenario.loadFraction !== undefined)
        check(
          ours.latency.p99 < 20,
          text + runsMet + spread(results, ['ours', 'empty', 'naive'], 'p99 ms'),
        );
      else lines.push(`INFO  ${text}${spread(results, ['ours', 'empty', 'naive'], 'p99 ms')}`);
      for (const r of results)
        if (r.split)
          lines.push(
            `      ${r.worker}: enqueue to processedOn p50/p99 ${r.split.pickup.p50}/${r.split.pickup.p99} ms, processedOn to event ${r.split.processing.p50}/${r.split.processing.p99} ms`,
          );
    }
  }
  // Issue 24: what an outcome rule costs and what a cache hit saves, against ours on `instant`.
  const oursIn = (id: string) =>
    rows.find((r) => r.scenario.id === id)?.results.find((r) => r.worker === 'ours');
  const instant = oursIn('instant');
  for (const id of ['expect', 'cachehit']) {
    const o = oursIn(id);
    const title = rows.find((r) => r.scenario.id === id)?.scenario.title;
    if (!instant || !o) continue;
    const cpu = `CPU s/1k jobs ${o.cpuSecPer1k.toFixed(3)} vs ${instant.cpuSecPer1k.toFixed(3)}`;
    lines.push(
      `INFO  ${title}: ours ${Math.round(o.jobsPerSec)} jobs/s = ${(o.jobsPerSec / instant.jobsPerSec).toFixed(2)}x ours on instant (${Math.round(instant.jobsPerSec)} jobs/s); ${cpu}`,
    );
  }
  // Issue 21: what a tenant secret costs on the hot path against an environment secret. The
  // tenant job also claims its run (one script per job: docs/tenants.md), which is part of it.
  const envSecret = oursIn('envsecret');
  const tenantSecret = oursIn('tenantsecret');
  if (envSecret && tenantSecret) {
    lines.push(
      `INFO  tenant secret vs environment secret: ours ${Math.round(tenantSecret.jobsPerSec)} jobs/s with a tenant secret, ${Math.round(envSecret.jobsPerSec)} with an environment secret (${(tenantSecret.jobsPerSec / envSecret.jobsPerSec).toFixed(2)}x); CPU s/1k jobs ${tenantSecret.cpuSecPer1k.toFixed(3)} vs ${envSecret.cpuSecPer1k.toFixed(3)}${spread(rows.find((r) => r.scenario.id === 'tenantsecret')!.results, ['ours'], 'jobs/s, tenant')}${spread(rows.find((r) => r.scenario.id === 'envsecret')!.results, ['ours'], 'jobs/s, environment')}`,
    );
  }
  // Issue 26: what the per-attempt records cost: ours on `memory` (records on, the default) against ours without them.
  const withRecords = oursIn('memory');
  const off = oursIn('norecords');
  if (withRecords && off) {
    const bytes = (r: typeof off) =>
      r.memBytesPerJob === undefined ? '-' : String(Math.round(r.memBytesPerJob));
    lines.push(
      `INFO  attempt records: ours ${Math.round(withRecords.jobsPerSec)} jobs/s with, ${Math.round(off.jobsPerSec)} without (${(withRecords.jobsPerSec / off.jobsPerSec).toFixed(2)}x); CPU s/1k jobs ${withRecords.cpuSecPer1k.toFixed(3)} with, ${off.cpuSecPer1k.toFixed(3)} without; Redis B/job ${bytes(withRecords)} with, ${bytes(off)} without`,
    );
  }
  for (const { scenario, results } of rows) {
    const ours = results.find((r) => r.worker === 'ours');
    const base = results.find((r) => r.worker === 'base');
    if (!ours || !base) continue;
    const unit = ours.latency ? 'p99 ms' : 'jobs/s';
    const cpu = `ours ${ours.cpuRuns?.join('/')}, base ${base.cpuRuns?.join('/')}`;
    lines.push(
      `INFO  ${scenario.title}: A/B ours vs base${spread(results, ['ours', 'base'], unit)}; CPU s/1k jobs: ${cpu}`,
    );
  }
  if (enqueue) {
    const ms = Math.round(warm(enqueue.enqueueMany));
    check(
      ms < 1000,
      `enqueueMany of ${enqueue.jobs.toLocaleString('en')} jobs: ${ms} ms warm, ${Math.round(cold(enqueue.enqueueMany))} ms as the process's first call (target < 1,000 ms); Queue.addBulk ${Math.round(warm(enqueue.addBulk))} ms`,
    );
  }
  return { ok, lines };
}

async function main(): Promise<void> {
  const only = option('only');
  const workers = (option('workers') ??
    (quick ? ['naive', 'ours'] : ['empty', 'naive', 'ours'])) as WorkerKind[];
  const repeat = Number(option('repeat')?.[0] ?? 2);
  const scale = Number(option('scale')?.[0] ?? 1);
  const scaled = (s: Scenario) => ({
    ...s,
    prefill: Math.round(s.prefill * scale),
    measure: Math.round(s.measure * scale),
  });
  const scenarios = (quick ? short : full).filter((s) => !only || only.includes(s.id)).map(scaled);
  if (workers.includes('base') && !option('base')) {
    throw new Error('--workers=...,base needs --base=DIR (a checkout with dist/ built)');
  }
  const redis = await startRedis(process.env.REDIS_URL);
  // Ctrl-C: children exit with the IPC channel, but our redis-server has none.
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => void redis.stop().finally(() => process.exit(130)));
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'bench-'));
  const profileDir = path.resolve('.bench-tmp/profiles');
  if (flag('profile')) mkdirSync(profileDir, { recursive: true });
  const [instant, slow] = await Promise.all([startUpstream(0), startUpstream(100)]);
  const env: Env = {
    redisUrl: redis.url,
    ownedRedis: redis.owned,
    upstreams: { 0: instant.url, 100: slow.url },
    logFile: process.env.BENCH_LOG_FILE ?? path.join(tmp, 'worker.log'),
    nodeArgs: flag('profile') ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
    baseDir: option('base')?.[0],
  };
  const rows: Row[] = [];
  const loadAtStart = os.loadavg()[0]!;
  try {
    const enqueue = quick ? undefined : await measureEnqueue(redis.url);
    if (enqueue) console.log(describeEnqueue(enqueue));
    for (const sc of scenarios) {
      const ref =
        rows.find((r) => r.scenario.id === 'instant')?.results.find((r) => r.worker === 'ours')
          ?.jobsPerSec ?? Number(option('max')?.[0] ?? 1000);
      const rate = sc.loadFraction !== undefined ? sc.loadFraction * ref : sc.fixedRate;
      const results = await runScenario(env, sc, workers, repeat, rate);
      rows.push({ scenario: sc, results });
      console.log(textTable([rows.at(-1)!]) + '\n');
    }
    console.log(textTable(rows));
    const { ok, lines } = checks(rows, quick, enqueue);
    console.log(lines.join('\n'));
    if (!quick && !flag('no-docs'))
      writeDocs(
        path.resolve('docs/benchmarks.md'),
        section(rows, lines, enqueue!, redis.url, repeat, [loadAtStart, os.loadavg()[0]!]),
      );
    process.exitCode = quick && !ok ? 1 : 0;
  } finally {
    await Promise.all([instant.stop(), slow.stop(), redis.stop()]);
    rmSync(tmp, { recursive: true, force: true });
  }
}

function section(
  rows: Row[],
  lines: string[],
  enqueue: EnqueueTimes,
  redisUrl: string,
  repeat: number,
  load: number[],
): string {
  return `## Throughput and latency

Measured by \`npm run bench\` (scripts/bench/) on ${new Date().toISOString().slice(0, 10)}: ${machine(redisUrl)}.
Absolute numbers move with whatever else the machine runs (load average below); the ratios
within one run are what the targets are about.

Workers, each in its own process: **empty** = BullMQ Worker with an empty processor (the queue's
own limit here); **naive** = got + HSET + XADD with no validation, templates, egress checks or
logs (Node's default flags); **ours** = the built service as \`npm start\` runs it, \`node ${startArgs().join(' ')}\`,
with its default configuration: worker,
HTTP API, /metrics observers, the destination guard with the default breaker, one log line per
attempt (LOG_LEVEL=info, stdout to a file); only INVOKE_ALLOW_PRIVATE=127.0.0.1/32 is set so the
loopback upstream is allowed. The upstream is a node:http server in its own process answering a
small JSON body at once or after 100 ms.

- Each worker ran ${repeat} times per scenario in alternating order; the table shows its best run,
  the check lines every run's figure (jobs/s, or the p99) and in how many runs a target was met.
- jobs/s: completions per second after the first 20 % (warm-up), the queue prefilled and paused
  until the worker was ready; "depth" scenarios keep that many jobs waiting throughout.
- p50/p95/p99: enqueue-to-event time minus the upstream latency, in the open-loop scenarios only
  (jobs added one or two at a time every ~2 ms at a fixed rate: half of ours' instant
  throughput, and 500/s), over the jobs enqueued after the first ${OPEN_LOOP_WARMUP_S} s at that rate (warm-up: a fresh
  process falls behind while cold and needs ~2 s to drain it; the check line gives that p99 apart).
  The event's time is its stream entry ID, Redis's clock when the XADD ran (for **empty**, BullMQ's
  own 'completed' entry): the driver reads events with XREAD BLOCK, but its read delay is a
  consumer's, not the worker's, and is printed apart on the check line. Under each latency check
  every worker's time is split at BullMQ's \`processedOn\` (set by the moveToActive that hands the
  job over): enqueue to processedOn is the queue's share (waiting, the blocking fetch, moveToActive),
  processedOn to event the processor's.
- CPU s/1k jobs: user+system CPU of the worker process, all its threads (process.cpuUsage; for
  ours /proc/<pid>/stat), per 1,000 completions in the measured window.
- Redis B/job: INFO used_memory after the run minus before, per retained completed job (job hash,
  our job log line, context hash, continuation entry; BullMQ's own event stream excluded).
- Enqueue: the client's \`enqueueMany\` of ${enqueue.jobs.toLocaleString('en')} small jobs (validation,
  idempotency keys, race-free dedupe, MULTI blocks of 500, each sent as soon as built) took **${Math.round(warm(enqueue.enqueueMany))} ms**
  warm (best of rounds 2-${enqueue.enqueueMany.length}) and ${Math.round(cold(enqueue.enqueueMany))} ms as the
  process's first call; BullMQ's own \`Queue.addBulk\` of the same jobs (no validation or dedupe)
  ${Math.round(warm(enqueue.addBulk))} ms warm, ${Math.round(cold(enqueue.addBulk))} ms in round 1. Each round on fresh queues.

${markdownTable(rows)}

Targets (ours vs naive >= 0.9x everywhere; >= 0.9x of concurrency/latency at 100 ms, c=200;
p99 overhead < 20 ms at half load):

\`\`\`
${lines.join('\n')}
\`\`\`

Load average (1 min) at the start and end of the run: ${load.map((l) => l.toFixed(1)).join(' / ')} on
${os.availableParallelism()} CPUs. When the machine is oversubscribed every process gets a slice of
a core, so throughput follows CPU per job: compare the CPU s/1k column first.

### What profiling removed from the worker

Profiled with \`npm run bench -- --profile\` (\`node --cpu-prof\` on each worker process; the
profiles land in .bench-tmp/profiles). Each change keeps behaviour and has tests (test/perf/,
test/patches/, test/destinations/fast-path.redis.test.ts, the timeout across redirect hops in
test/http/client.test.ts).

- A V8 slow path (Node 20): in an object literal that starts with a non-empty spread, every
  property listed after it makes a new hidden class. got's \`createNativeRequestOptions\` is such
  a literal (four cache options spread, then ~30 properties): 66 us of CPU and ~23 KiB of garbage
  per request, the largest item of a call after GC. src/patches/got-native-request-options.ts runs got's own
  method with the spread sources swapped out and merges them back in (~1.3 us; the test compares the
  result with got's). Our template scope (9 us a job) and rendered request (1.5 us) had the same
  shape and are now built with Object.assign.
- The same options then went to http.request with ~25 of their 35 keys undefined, and Node
  copies them twice more per request (ClientRequest, Agent#addRequest: spreads into
  null-prototype literals). Handing on only the defined keys cut the HTTP client's CPU from a
  median of 309-334 to 260-292 us per request (in-process A/B on loopback, 6 rounds each).
- BullMQ 6's fetch loop held fetched jobs: it fetches one job per round trip and starts none
  until it stops fetching, so with jobs arriving about as fast as it fetched them a job waited
  up to 30-50 ms between reaching the worker and its processor starting, the event loop idle.
  A patch of BullMQ's loop that started each fetched job at once took BullMQ's empty worker at
  half load from p99 31-36 to 8-9 ms, ours from a p50 of 9-10 ms to 5-7 and a p99 of 27-61 to
  17-49 (A/B, alternating runs), for 0.29-0.31 ms of CPU per job at that rate against 0.25-0.27.
  It was removed on 30 November: ours' p99, the target, moved within its noise (docs/patches.md).
- Destinations: a host with only the default breaker cost two Lua scripts per call (ask before,
  record after), 50 us of the worker's CPU per job. A host seen closed in the last second is now
  called without asking, and its successes reach the breaker in one script per 100 ms
  (failures and pauses at once; docs/destinations.md).
- HTTP: the whole-request timeout is one timer that destroys the open hop, not an
  AbortController whose signal got listens to (11 us per call; AbortSignal.timeout, before
  that, cost more); the body reader built a
  "Premature close" Error (with its stack) on every call's normal close (3.5 % of a call); the
  URL is parsed once per attempt instead of twice.
- The processor returns nothing to BullMQ: its return value was serialised into the job hash and
  BullMQ's event stream on every completion, and nobody read it.
- Save, emit and the attempt's job-log line are one Lua script (one EVALSHA, one round trip) on a
  single node, instead of a MULTI (HSET, EXPIRE, XADD) plus BullMQ's addLog round trip, and the
  jobs that finish in the same event-loop turn share one call (flushed on setImmediate, up to 64,
  each result under pcall): about 2 results per call at c=100 with the instant upstream, worker
  CPU -4 to -8 % and Redis CPU -12 % in A/B runs. ioredis auto-pipelining was tried first: it
  creates a Pipeline per flush and cost more CPU with jobs arriving one by one. On a Cluster the
  save is written before the event as before.
- Log redaction: pino runs every key of every line through its redactor when a path starts with
  \`*\` (60 us a line against 9 us on 26 November). Applying the \`*.\` paths in our own
  formatter (and, through a patch of pino's child(), to child bindings) was dropped on 30
  November: end to end its gain was within the noise (docs/patches.md), so pino redacts every
  path itself.
- Log output is buffered (4 KiB blocks, flushed every second and at exit), not one write per line.
- \`needsContext\`: looks only at templated strings in rendered places (URL, query, header
  values, body strings), not at every key and string of a 10 KiB body (and never with
  \`JSON.stringify\` of the request: 230 us); property-tested to be true whenever a render reads
  the context.
- Templates: literal text around plain \`{{ a.b.c }}\` outputs resolving to a string, number or
  boolean is rendered without liquidjs's generator machinery (property-tested against liquid);
  JSON bodies are copy-on-write, walked without \`Object.entries\`, and the field path is a stack
  of keys named only when a template fails.
- HTTP: the body read with stream listeners instead of \`for await\`, egress verdicts remembered
  per address; keep-alive sockets were already on.
- Kept on purpose: zod validation of every job (7 us once warm, timed inside the service; 39 us
  on average over the first 2,000 jobs while cold), the level check before the attempt log, the
  structured log line itself.
`;
}

await main();
