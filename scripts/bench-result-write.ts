/**
 * Cost of writing results (docs/benchmarks.md, "Measurements behind choices in the code"): the
 * single-node result writer (save, event and job-log line in one script per event-loop turn)
 * with a small envelope and with a 10 KiB body, two results per turn as at c=100. Reports the
 * worker's CPU and Redis's script time per result, median of ROUNDS rounds. With --base=DIR the
 * writer built in DIR (a checkout with dist/) runs alternately with this one, side by side.
 *
 * Run: npx tsx scripts/bench-result-write.ts [--base=DIR] [--n=20000]   (ROUNDS=5)
 * Uses the Redis at REDIS_URL (default 127.0.0.1:6379) under a key prefix it removes at the end.
 */
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config.js';
import type { Envelope } from '../src/contract/envelope.js';
import { buildEvent } from '../src/events/continuation.js';
import { parseJob } from '../src/contract/invalid-job.js';
import type { ResultToWrite, WriteResult } from '../src/store/result-writer.js';

const arg = (name: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const N = Number(arg('n') ?? 20_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const PER_TURN = 2;
const prefix = `bench-rw-${randomBytes(4).toString('hex')}`;
const cfg = loadConfig({
  REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  INVOKE_CTX_PREFIX: `${prefix}:ctx`,
  INVOKE_EVENTS_STREAM: `${prefix}:events`,
});

type Factory = (redis: Redis, c: typeof cfg) => WriteResult;
const writers: { name: string; create: Factory }[] = [
  {
    name: 'this tree',
    create: (await import('../src/store/result-writer.js')).createResultWriter as Factory,
  },
];
const base = arg('base');
if (base) {
  const mod = await import(`${base}/dist/store/result-writer.js`);
  writers.push({ name: `base (${base})`, create: mod.createResultWriter as Factory });
}

const bigBody: Record<string, string> = {};
for (let i = 0; JSON.stringify(bigBody).length < 10_240; i++)
  bigBody[`field${i}`] = `value "${i}" with some text`;

function result(i: number, big: boolean): ResultToWrite {
  const job = parseJob({
    v: 1,
    journeyId: 'j',
    runId: `r${i % 500}`,
    stepId: 's',
    customerId: 'c',
    request: { url: 'https://api.example/x' },
    save: { variable: 'v' },
  });
  const envelope: Envelope = {
    ok: true,
    status: 200,
    body: big ? bigBody : { i },
    truncated: false,
    headers: {},
    error: null,
    attempts: 1,
    durationMs: 3,
    at: new Date().toISOString(),
    eventId: `ev-${i}`,
  };
  const jobKey = `${prefix}:job:${i % 500}`;
  return {
    runId: job.runId,
    variable: 'v',
    envelope,
    event: buildEvent(job, String(i), envelope),
    log: { jobKey, line: `GET api.example/x -> 200 in 3 ms (attempt ${i})`, keepLogs: 10 },
  };
}

const redis = new Redis(cfg.REDIS_URL);
async function scriptUsec(): Promise<number> {
  const info = await redis.info('commandstats');
  const m = /cmdstat_evalsha:calls=\d+,usec=(\d+)/.exec(info);
  return Number(m?.[1] ?? 0);
}

async function round(write: WriteResult, big: boolean) {
  const results = Array.from({ length: N }, (_, i) => result(i, big));
  await redis.config('RESETSTAT');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < N; i += PER_TURN) {
    // Each batch is one event-loop turn: the writer flushes on setImmediate.
    await Promise.all(results.slice(i, i + PER_TURN).map((r) => write(r)));
  }
  const cpu = process.cpuUsage(cpu0);
  return {
    wallMs: performance.now() - t0,
    cpuUsPerResult: (cpu.user + cpu.system) / N,
    redisUsPerResult: (await scriptUsec()) / N,
  };
}

async function createJobs(): Promise<void> {
  // The log line is written only to a job that exists, as in the worker.
  const pipe = redis.pipeline();
  for (let i = 0; i < 500; i++) pipe.hset(`${prefix}:job:${i}`, 'name', 'invoke');
  await pipe.exec();
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  await createJobs();
  for (const big of [false, true]) {
    const seen = new Map<string, { cpu: number[]; redis: number[] }>();
    for (let r = 0; r < ROUNDS; r++) {
      for (const w of writers) {
        const m = await round(w.create(redis, cfg), big);
        const s = seen.get(w.name) ?? { cpu: [], redis: [] };
        s.cpu.push(m.cpuUsPerResult);
        s.redis.push(m.redisUsPerResult);
        seen.set(w.name, s);
      }
    }
    for (const [name, s] of seen) {
      console.log(
        `${big ? '10 KiB body' : 'small body '}  ${name.padEnd(40)} worker CPU ${median(s.cpu).toFixed(1)} us/result, Redis script ${median(s.redis).toFixed(1)} us/result`,
      );
    }
  }
} finally {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
  await redis.quit();
}
