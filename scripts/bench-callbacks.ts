/**
 * What waiting steps cost in Redis (docs/benchmarks.md, "Waiting steps"), on a private
 * redis-server (no other keys, so INFO memory deltas are ours alone):
 *
 *   1. memory: N waiting steps (record hash + deadline ZSET member) armed through the real
 *      ARM script, bytes per step from INFO used_memory, and MEMORY USAGE of one record; next to
 *      the baseline of keeping the same N steps as BullMQ delayed jobs with the same data (the
 *      obvious alternative: park the job until its deadline).
 *   2. finding timeouts: ZRANGEBYSCORE ... LIMIT 0 200 (what each sweep tick asks) with nothing
 *      due, and with 200 due, at N waiting; and the full settle of 1,000 due steps.
 *   3. tombstones: bytes per finished step kept to answer repeats (state, generation, ts).
 *   4. waiting for a replica (INVOKE_CALLBACK_MIN_REPLICAS): first callbacks per second, what the
 *      route does per callback (complete, then the replica barrier when on), off and on side by
 *      side in alternating rounds, on a second private master with one local replica. HTTP is
 *      left out: it is the same both ways.
 *
 * Run: npx tsx scripts/bench-callbacks.ts [N=100000] [--replica-only]   (needs redis-server on PATH)
 */
import { performance } from 'node:perf_hooks';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config.js';
import { createCallbacks } from '../src/callbacks/service.js';
import { idempotencyKey } from '../src/contract/idempotency.js';
import { invokeJobSchema } from '../src/contract/job.js';
import type { Envelope } from '../src/contract/envelope.js';
import { startRedisServer } from '../test/helpers/redis-server.js';
import { createRedis } from '../src/redis.js';
import { createLogger } from '../src/logger.js';
import { createCallbackEndpoint } from '../src/callbacks/endpoint.js';

const args = process.argv.slice(2);
const N = Number(args.find((a) => !a.startsWith('--')) ?? 100_000);
const BATCH = 2000;

/** A realistic step: a templated POST with a body, customer data and a pick. */
function job(i: number) {
  return invokeJobSchema.parse({
    v: 1,
    journeyId: 'kyc-onboarding',
    runId: `run-${i.toString(36)}-${(i * 7919).toString(36)}`,
    stepId: 'credit-check',
    customerId: `cus-${i}`,
    request: {
      method: 'POST',
      url: 'https://api.partner.example/v2/checks',
      headers: { authorization: 'Bearer {{ secrets.PARTNER }}' },
      body: {
        customer: '{{ customer.id }}',
        email: '{{ customer.email }}',
        callback: '{{ callback.url }}',
      },
    },
    data: { customer: { id: `cus-${i}`, email: `c${i}@example.com`, locale: 'en-GB' } },
    save: { variable: 'credit', pick: { verdict: 'body.verdict', score: 'body.score' } },
    wait: { callback: true, timeoutMs: 7 * 86_400_000 },
  });
}

const envelope: Envelope = {
  ok: true,
  status: 202,
  body: null,
  truncated: false,
  headers: { 'content-type': 'application/json' },
  error: null,
  attempts: 1,
  durationMs: 120,
  at: new Date().toISOString(),
  eventId: 'x',
};

async function usedMemory(r: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await r.info('memory'))![1]);
}

async function inBatches(n: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < n; i += BATCH)
    await Promise.all(Array.from({ length: Math.min(BATCH, n - i) }, (_, k) => fn(i + k)));
}

async function main(): Promise<void> {
  if (!args.includes('--replica-only')) await memoryAndSweep();
  await replicaWait();
}

async function memoryAndSweep(): Promise<void> {
  const server = await startRedisServer();
  const redis = new Redis(server.url, { maxRetriesPerRequest: null });
  const cfg = loadConfig({
    REDIS_URL: server.url,
    INVOKE_CALLBACK_KEY: Buffer.alloc(32, 7).toString('base64'),
  });
  let now = Date.now();
  const callbacks = createCallbacks(cfg, redis, () => now);
  const ts = Date.now();

  // 1. memory per waiting step
  const empty = await usedMemory(redis);
  let t = performance.now();
  await inBatches(N, (i) => {
    const j = job(i);
    return callbacks.wait(idempotencyKey(j), {
      ts,
      gen: 0,
      job: j,
      envelope,
      timeoutMs: 86_400_000 + i,
    });
  });
  const armMs = performance.now() - t;
  const perStep = ((await usedMemory(redis)) - empty) / N;
  const oneRecord = Number(
    await redis.memory('USAGE', callbacks.store.recordKey(idempotencyKey(job(0))), 'SAMPLES', '0'),
  );
  const zset = Number(await redis.memory('USAGE', callbacks.store.deadlinesKey, 'SAMPLES', '0'));
  const jobBytes = JSON.stringify(job(0)).length;

  // 2. finding what is due
  const timeQuery = async (label: string) => {
    const rounds = 200;
    t = performance.now();
    for (let i = 0; i < rounds; i++) await callbacks.store.due(now, 200);
    return `${label}: ${((performance.now() - t) / rounds).toFixed(3)} ms per ZRANGEBYSCORE LIMIT 200 (round trip included)`;
  };
  const idle = await timeQuery('nothing due');
  now = ts + 86_400_000 + 999; // the first 1,000 deadlines have passed
  const busy = await timeQuery('200 due');
  t = performance.now();
  let settled = 0;
  for (;;) {
    const n = await callbacks.sweep(200);
    settled += n;
    if (n < 200) break;
  }
  const sweepMs = performance.now() - t;

  // 3. tombstones: the settled steps' records
  const tomb = Number(
    await redis.memory('USAGE', callbacks.store.recordKey(idempotencyKey(job(1))), 'SAMPLES', '0'),
  );

  // Baseline: the same N steps parked as BullMQ delayed jobs (job hash + delayed ZSET member).
  await redis.flushall();
  const base0 = await usedMemory(redis);
  const queue = new Queue('invoke-api', { connection: redis, prefix: 'bull' });
  t = performance.now();
  for (let i = 0; i < N; i += BATCH) {
    await queue.addBulk(
      Array.from({ length: Math.min(BATCH, N - i) }, (_, k) => {
        const j = job(i + k);
        return {
          name: 'invoke',
          data: j,
          opts: {
            jobId: idempotencyKey(j),
            delay: 86_400_000,
            attempts: 6,
            removeOnComplete: { age: 86400, count: 10000 },
          },
        };
      }),
    );
  }
  const baseMs = performance.now() - t;
  const perDelayed = ((await usedMemory(redis)) - base0) / N;

  const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;
  console.log(
    `N = ${N} waiting steps, job JSON ${jobBytes} bytes; redis ${(await redis.info('server')).match(/redis_version:(\S+)/)![1]}`,
  );
  console.log(
    `waiting step (record + ZSET member): ${perStep.toFixed(0)} bytes (INFO used_memory delta / N); one record MEMORY USAGE ${oneRecord} bytes; ZSET ${mb(zset)} total`,
  );
  console.log(`  -> 1,000,000 waiting steps ~ ${mb(perStep * 1_000_000)}`);
  console.log(
    `baseline, BullMQ delayed job with the same data: ${perDelayed.toFixed(0)} bytes -> 1,000,000 ~ ${mb(perDelayed * 1_000_000)}; ratio ours/baseline ${(perStep / perDelayed).toFixed(2)}`,
  );
  console.log(
    `arming ${N}: ${(armMs / 1000).toFixed(1)} s (${Math.round(N / (armMs / 1000))}/s, ${BATCH} in flight); baseline addBulk: ${(baseMs / 1000).toFixed(1)} s`,
  );
  console.log(`${idle}\n${busy}`);
  console.log(
    `sweep: ${settled} due steps settled (CALLBACK_TIMEOUT saved + emitted) in ${sweepMs.toFixed(0)} ms (${(sweepMs / settled).toFixed(2)} ms each)`,
  );
  console.log(
    `tombstone of a finished step: ${tomb} bytes (MEMORY USAGE), kept ${Math.round(30 + 7)} days after enqueue to answer repeats`,
  );
  await queue.close();
  redis.disconnect();
  await server.destroy();
}

/** Callbacks per round; rounds alternate off and on, after one warm-up round of each. */
const ROUND = 1000;
const ROUNDS = 3;
/** Partners calling back one at a time, and many at once. */
const IN_FLIGHT = [1, 50];

async function replicaWait(): Promise<void> {
  const master = await startRedisServer();
  const replica = await startRedisServer({
    args: ['--replicaof', '127.0.0.1', String(master.port)],
    ready: /MASTER <-> REPLICA sync: Finished/,
  });
  const cfg = loadConfig({
    REDIS_URL: master.url,
    INVOKE_CALLBACK_KEY: Buffer.alloc(32, 7).toString('base64'),
    INVOKE_CALLBACK_MIN_REPLICAS: '1',
  });
  const offConn = createRedis(cfg, 'bench-off');
  const off = createCallbacks(cfg, offConn);
  const on = createCallbackEndpoint(
    cfg,
    offConn,
    createLogger('silent', (x) => x),
  );
  const stats = new Redis(master.url);
  const total = ROUND * (ROUNDS + 1) * 2 * IN_FLIGHT.length;
  const ts = Date.now();
  const tokens: string[] = [];
  await inBatches(total, async (i) => {
    const j = job(1_000_000 + i);
    const jobId = idempotencyKey(j);
    await off.wait(jobId, { ts, gen: 0, job: j, envelope, timeoutMs: 86_400_000 });
    tokens[i] = off.tokenFor({ jobId, ts, gen: 0 }).token;
  });

  /** What the route does per callback: complete, then (on) the replica barrier. */
  async function round(mode: 'off' | 'on', mine: string[], inFlight: number) {
    await stats.config('RESETSTAT');
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < mine.length) {
          const result = await (mode === 'off' ? off : on.callbacks).complete(mine[next++]!, {
            ok: 1,
          });
          if (result !== 'first') throw new Error(`unexpected ${result}`);
          if (mode === 'on' && !(await on.barrier!.confirm())) throw new Error('not replicated');
        }
      }),
    );
    const perSecond = mine.length / ((performance.now() - t0) / 1000);
    const waits = Number(
      /cmdstat_wait:calls=(\d+)/.exec(await stats.info('commandstats'))?.[1] ?? 0,
    );
    return { perSecond, waits };
  }

  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  let used = 0;
  const take = () => tokens.slice(used, (used += ROUND));
  console.log(
    `replica wait: first callbacks per second, ${ROUNDS} rounds of ${ROUND} each way (after a warm-up round), one local replica`,
  );
  for (const inFlight of IN_FLIGHT) {
    const rate = { off: [] as number[], on: [] as number[] };
    let waits = 0;
    await round('off', take(), inFlight);
    await round('on', take(), inFlight);
    for (let r = 0; r < ROUNDS * 2; r++) {
      const mode = r % 2 === 0 ? 'off' : 'on';
      const m = await round(mode, take(), inFlight);
      rate[mode].push(m.perSecond);
      waits += m.waits;
    }
    const list = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ');
    console.log(
      `  ${inFlight} in flight: off ${list(rate.off)} /s (median ${med(rate.off).toFixed(0)}); on ${list(rate.on)} /s (median ${med(rate.on).toFixed(0)}); on/off ${(med(rate.on) / med(rate.off)).toFixed(2)}; ${(waits / (ROUND * ROUNDS)).toFixed(3)} WAIT per callback`,
    );
  }
  stats.disconnect();
  await on.close();
  offConn.disconnect();
  await replica.destroy();
  await master.destroy();
}

void main();
