/**
 * Soak: push SOAK_JOBS (default 200 000) jobs through the worker process (`node dist/main.js`,
 * default retention and concurrency) against a loopback upstream and a private redis-server,
 * and sample the worker's RSS and Redis memory as it goes. Run by people, not CI:
 *
 *   npm run build && npx tsx scripts/soak.ts            # SOAK_JOBS=50000 for a shorter run
 *
 * SOAK_RUNS (default 10 000): jobs cycle over this many runs (visit = round), so the context
 * store holds SOAK_RUNS hashes, as a live system holds its active runs; SOAK_RUNS=0 gives every
 * job its own run. The producer keeps at most SOAK_BACKLOG jobs waiting, so the numbers show the
 * steady state, not a queue being filled. Prints samples and a markdown summary.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { idempotencyKey } from '../src/contract/idempotency.js';
import { startRedisServer } from '../test/helpers/redis-server.js';
import { startWorker } from '../test/helpers/worker-process.js';

const JOBS = Number(process.env.SOAK_JOBS ?? 200_000);
const RUNS = Number(process.env.SOAK_RUNS ?? 10_000);
const BACKLOG = Number(process.env.SOAK_BACKLOG ?? 5_000);
const SAMPLE_MS = Number(process.env.SOAK_SAMPLE_MS ?? 5_000);

const rssMb = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

async function main(): Promise<void> {
  const redis = await startRedisServer();
  const upstream = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"points":42,"tier":{"name":"gold"}}');
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  // LOG_LEVEL=warn: one info line per attempt would measure the log pipe, not the worker.
  const worker = await startWorker(
    {
      REDIS_URL: redis.url,
      INVOKE_API_ENABLED: 'false',
      INVOKE_ALLOW_PRIVATE: '127.0.0.1/32',
      LOG_LEVEL: 'warn',
    },
    { waitFor: null },
  );
  const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
  const queue = new Queue('invoke-api', { connection: conn });
  while ((await queue.getWorkersCount()) === 0) await new Promise((r) => setTimeout(r, 100));

  const samples: {
    s: number;
    done: number;
    rss: number;
    redisMb: number;
    keys: number;
    xlen: number;
  }[] = [];
  const t0 = Date.now();
  let added = 0;
  let done = 0;
  const sample = async () => {
    const info = await conn.info('memory');
    const used = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
    const c = await queue.getJobCounts('completed', 'failed');
    const s = {
      s: Math.round((Date.now() - t0) / 1000),
      done,
      rss: Math.round(rssMb(worker.pid)),
      redisMb: mb(used),
      keys: await conn.dbsize(),
      xlen: await conn.xlen('journey:continuations'),
    };
    samples.push(s);
    console.log(JSON.stringify({ ...s, retainedCompleted: c.completed, failed: c.failed }));
  };

  const timer = setInterval(() => void sample(), SAMPLE_MS);
  while (done < JOBS) {
    done = await conn.xlen('journey:continuations');
    const waiting = await queue.getWaitingCount();
    if (added < JOBS && waiting < BACKLOG) {
      const batch = Array.from({ length: Math.min(1000, JOBS - added) }, (_, k) => {
        const i = added + k;
        const runId = RUNS > 0 ? `soak-${i % RUNS}` : `soak-${i}`;
        const data = {
          v: 1,
          journeyId: 'soak',
          runId,
          stepId: 'fetch',
          visit: RUNS > 0 ? Math.floor(i / RUNS) + 1 : 1,
          customerId: `c-${i}`,
          request: { url: `${url}/loyalty/{{ customer.id }}` },
          data: { customer: { id: `c-${i}` } },
          save: { variable: 'loyalty' },
        };
        return {
          name: 'invoke',
          data,
          opts: {
            jobId: idempotencyKey(data),
            attempts: 5,
            backoff: { type: 'invoke', delay: 1000 },
          },
        };
      });
      await queue.addBulk(batch);
      added += batch.length;
    } else {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  clearInterval(timer);
  await sample();
  const secs = (Date.now() - t0) / 1000;
  const late = samples.filter((s) => s.done >= JOBS * 0.25);
  const range = (k: 'rss' | 'redisMb') =>
    `${Math.min(...late.map((s) => s[k]))}–${Math.max(...late.map((s) => s[k]))}`;
  console.log(
    `\n| jobs | runs | time | jobs/s | worker RSS (after 25 %) | worker RSS end | Redis used_memory (after 25 %) | Redis end | keys end | stream entries |`,
  );
  console.log(`| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |`);
  const end = samples.at(-1)!;
  console.log(
    `| ${JOBS} | ${RUNS || JOBS} | ${Math.round(secs)} s | ${Math.round(JOBS / secs)} | ${range('rss')} MB | ${end.rss} MB | ${range('redisMb')} MB | ${end.redisMb} MB | ${end.keys} | ${end.xlen} |`,
  );
  await worker.stop(30_000);
  await queue.close();
  conn.disconnect();
  upstream.close();
  await redis.destroy();
}

void main();
