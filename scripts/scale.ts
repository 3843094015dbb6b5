/**
 * npm run scale [-- --jobs=6000 --processes=1,2,4 --concurrency=100 --repeat=2]
 *
 * Throughput of 1, 2 and 4 worker processes (the built service, `node dist/main.js`, API off)
 * against one Redis (REDIS_URL) and an instant loopback upstream: the queue is paused, filled,
 * resumed, and the time until every job is completed gives jobs/s. Each count runs `repeat`
 * times and keeps its best run (the least disturbed by whatever else the machine runs). Its own
 * key prefix, removed afterwards. Results go in docs/scaling.md by hand, with the machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createInvokeClient } from '../src/client/create-invoke-client.js';
import { startArgs } from './start-command.js';

const arg = (name: string, def: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? def;
const JOBS = Number(arg('jobs', '6000'));
const PROCESSES = arg('processes', '1,2,4').split(',').map(Number);
const CONCURRENCY = arg('concurrency', '100');
const REPEAT = Number(arg('repeat', '2'));
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** --fair=false enqueues straight to the FIFO (the client's fairShare: false) to compare. */
const FAIR = arg('fair', 'true') !== 'false';

function startWorker(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, startArgs(), {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('"msg":"worker started"')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`worker exited ${code}: ${out.slice(-500)}`)));
  });
}

async function run(processes: number, upstreamUrl: string): Promise<number> {
  const prefix = `scale:${randomBytes(4).toString('hex')}`;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue('invoke-api', { connection: redis, prefix });
  const env = {
    REDIS_URL,
    BULLMQ_PREFIX: prefix,
    INVOKE_CTX_PREFIX: `${prefix}:ctx`,
    INVOKE_EVENTS_STREAM: `${prefix}:events`,
    INVOKE_API_ENABLED: 'false',
    INVOKE_CONCURRENCY: CONCURRENCY,
    INVOKE_ALLOW_PRIVATE: '127.0.0.1/32',
    LOG_LEVEL: 'warn',
  };
  await queue.pause();
  const workers = await Promise.all(
    Array.from({ length: processes }, () => startWorker({ ...env, LOG_LEVEL: 'info' })),
  );
  const client = createInvokeClient({ redisUrl: REDIS_URL, prefix, fairShare: FAIR });
  const id = randomBytes(3).toString('hex');
  await client.enqueueMany(
    Array.from({ length: JOBS }, (_, i) => ({
      v: 1,
      journeyId: 'scale',
      runId: `r-${id}-${i}`,
      stepId: 'call',
      customerId: `c-${i}`,
      request: { method: 'GET', url: `${upstreamUrl}/x/{{ customer.id }}` },
      data: { customer: { id: `c-${i}` } },
      save: { variable: 'v' },
    })),
  );
  const t0 = performance.now();
  await queue.resume();
  while (((await queue.getJobCounts('completed')).completed ?? 0) < JOBS)
    await new Promise((r) => setTimeout(r, 50));
  const seconds = (performance.now() - t0) / 1000;
  for (const w of workers) w.kill('SIGTERM');
  await Promise.all(
    workers.map(
      (w) => new Promise((r) => (w.exitCode !== null ? r(undefined) : w.once('exit', r))),
    ),
  );
  await client.close();
  await removeKeys(redis, `${prefix}:*`);
  await queue.close();
  redis.disconnect();
  return JOBS / seconds;
}

async function removeKeys(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
}

async function main(): Promise<void> {
  const upstream = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  console.log(
    `${os.cpus().length} CPUs (${os.cpus()[0]?.model}), load ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}; ${JOBS} jobs, concurrency ${CONCURRENCY} per process, best of ${REPEAT}`,
  );
  const best = new Map<number, number>();
  for (let r = 0; r < REPEAT; r++) {
    // Alternate the order so drift in the machine's load falls on every count alike.
    for (const n of r % 2 === 0 ? PROCESSES : [...PROCESSES].reverse()) {
      const rate = await run(n, url);
      console.log(`  ${n} process(es): ${rate.toFixed(0)} jobs/s`);
      best.set(n, Math.max(best.get(n) ?? 0, rate));
    }
  }
  const base = best.get(PROCESSES[0]!)!;
  console.log('\n| worker processes | jobs/s | vs 1 process |\n| ---: | ---: | ---: |');
  for (const n of PROCESSES)
    console.log(`| ${n} | ${best.get(n)!.toFixed(0)} | ${(best.get(n)! / base).toFixed(2)}x |`);
  console.log(
    `load after: ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  upstream.close();
}

await main();
