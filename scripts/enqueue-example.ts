/**
 * npm run enqueue-example: see one journey step run end to end in a few seconds.
 *
 *   1. start a mock partner API on loopback (a loyalty endpoint that checks a bearer token)
 *   2. start a worker in this process (INVOKE_ALLOW_PRIVATE=127.0.0.1/32 so it may call it)
 *   3. enqueue a sample step with the TypeScript client against REDIS_URL
 *   4. wait for the continuation event, then print it, the saved envelope and the job's status
 *   5. remove what it added: its job, its context hash, its event, and keys it created
 *
 * It uses the service's own settings (REDIS_URL, INVOKE_QUEUE, BULLMQ_PREFIX, ...), so what it
 * shows is what the service does. Its worker may call loopback, so it refuses to run while
 * another worker consumes that queue or jobs wait in it: it would take their jobs.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { createScrubber } from '../src/template/secrets.js';
import { createWorkerApp } from '../src/app.js';
import { createInvokeClient } from '../src/client/create-invoke-client.js';
import { parseEventFields } from '../src/events/continuation.js';
import { contextKey } from '../src/store/context.js';

const TOKEN = 'demo-token-not-a-real-secret';

function startMockPartner(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const ok = req.headers.authorization === `Bearer ${TOKEN}`;
    res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify(
        ok
          ? { customer: req.url?.split('/').pop(), points: 42, tier: { name: 'gold' } }
          : { error: 'bad token' },
      ),
    );
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function waitForEvent(
  redis: Redis,
  stream: string,
  eventId: string,
  fromId: string,
): Promise<Record<string, string>> {
  let last = fromId;
  for (let tries = 0; tries < 20; tries++) {
    const reply = await redis.xread('COUNT', 100, 'BLOCK', 1000, 'STREAMS', stream, last);
    for (const [, entries] of reply ?? []) {
      for (const [id, fields] of entries) {
        last = id;
        const event = parseEventFields(fields);
        if (event.eventId === eventId) return event;
      }
    }
  }
  throw new Error(
    `no continuation event for ${eventId} within 20 s: is Redis reachable at REDIS_URL?`,
  );
}

async function main(): Promise<void> {
  const partner = await startMockPartner();
  const partnerUrl = `http://127.0.0.1:${(partner.address() as AddressInfo).port}`;
  const cfg = loadConfig({
    ...process.env,
    INVOKE_ALLOW_PRIVATE: '127.0.0.1/32',
    INVOKE_SECRET_LOYALTY_TOKEN: TOKEN,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  });
  const reader = new Redis(cfg.REDIS_URL);
  // Before anything of ours connects: our Queue and Worker write the queue's metadata.
  const before = await keysOf(reader, cfg);
  const queue = new Queue(cfg.INVOKE_QUEUE, { connection: reader, prefix: cfg.BULLMQ_PREFIX });
  const busy = await othersOnQueue(queue);
  if (busy) {
    partner.close();
    await queue.close();
    reader.disconnect();
    throw new Error(
      `${busy} on queue ${cfg.INVOKE_QUEUE}: stop it, or run with INVOKE_QUEUE=<a queue of your own>`,
    );
  }
  const fromId = `${Date.now() - 1}-0`;
  let enqueued: string | undefined;
  const worker = createWorkerApp(cfg, createLogger(cfg.LOG_LEVEL, createScrubber(cfg.secrets)));
  const client = createInvokeClient({
    redisUrl: cfg.REDIS_URL,
    queue: cfg.INVOKE_QUEUE,
    prefix: cfg.BULLMQ_PREFIX,
    ctxPrefix: cfg.INVOKE_CTX_PREFIX,
  });
  try {
    const step = {
      v: 1 as const,
      journeyId: 'welcome-flow',
      runId: `run-example-${randomBytes(3).toString('hex')}`,
      stepId: 'fetch-loyalty',
      customerId: 'cus-123',
      request: {
        method: 'GET' as const,
        url: `${partnerUrl}/loyalty/{{ customer.id }}`,
        headers: { Authorization: 'Bearer {{ secrets.LOYALTY_TOKEN }}' },
      },
      data: { customer: { id: 'cus-123', email: 'a@b.co' } },
      save: { variable: 'loyalty', pick: { points: 'body.points', tier: 'body.tier.name' } },
    };
    const started = performance.now();
    const { jobId, deduplicated } = await client.enqueue(step);
    enqueued = jobId;
    console.log(`enqueued ${jobId} (deduplicated: ${deduplicated}) on queue ${cfg.INVOKE_QUEUE}`);
    const event = await waitForEvent(reader, cfg.INVOKE_EVENTS_STREAM, jobId, fromId);
    console.log(
      `\ncontinuation event on ${cfg.INVOKE_EVENTS_STREAM} after ${Math.round(performance.now() - started)} ms:`,
    );
    console.log(event);
    const saved = await reader.hget(
      contextKey(cfg.INVOKE_CTX_PREFIX, step.runId),
      step.save.variable,
    );
    console.log(
      `\nenvelope saved in ${contextKey(cfg.INVOKE_CTX_PREFIX, step.runId)} field ${step.save.variable}:`,
    );
    console.log(JSON.stringify(JSON.parse(saved ?? 'null'), null, 2));
    console.log(
      `\nits status (what GET /v1/invocations/${encodeURIComponent(jobId)} answers while the job is retained):`,
    );
    console.log(await client.status(jobId));
  } finally {
    // Closed first: a closing worker and client still write (queue metadata).
    await worker.close(5000);
    await client.close();
    const removed = await removeTraces(reader, queue, cfg, before, fromId, enqueued);
    console.log(`\nremoved the example's job, event and the ${removed} keys it created`);
    await queue.close();
    reader.disconnect();
    partner.close();
  }
}

/** Removes the example's jobs, its events on the shared stream, and every key it created. */
async function removeTraces(
  redis: Redis,
  queue: Queue,
  cfg: ReturnType<typeof loadConfig>,
  before: Set<string>,
  fromId: string,
  jobId: string | undefined,
): Promise<number> {
  const entries = await redis.xrange(cfg.INVOKE_EVENTS_STREAM, fromId, '+');
  const mine = entries
    .filter(([, fields]) => parseEventFields(fields).eventId === jobId)
    .map(([id]) => id);
  if (mine.length) await redis.xdel(cfg.INVOKE_EVENTS_STREAM, ...mine);
  if (jobId) await queue.remove(jobId);
  const added = [...(await keysOf(redis, cfg))].filter((k) => !before.has(k));
  if (added.length) await redis.del(...added);
  return added.length;
}

/** Another consumer, or jobs our loopback-allowed worker would take: a reason not to run. */
async function othersOnQueue(queue: Queue): Promise<string | undefined> {
  const workers = await queue.getWorkersCount();
  if (workers > 0) return `${workers} worker(s) already consume jobs`;
  const counts = await queue.getJobCounts('waiting', 'delayed', 'prioritized', 'active');
  const pending = Object.values(counts).reduce((a, b) => a + b, 0);
  return pending > 0 ? `${pending} job(s) are waiting or running` : undefined;
}

/** The keys this example can create: the queue's, the destination state, the stream and context. */
async function keysOf(redis: Redis, cfg: ReturnType<typeof loadConfig>): Promise<Set<string>> {
  const found = new Set<string>();
  for (const pattern of [
    `${cfg.BULLMQ_PREFIX}:${cfg.INVOKE_QUEUE}:*`,
    `${cfg.BULLMQ_PREFIX}:dest:*`,
    cfg.INVOKE_EVENTS_STREAM,
    `${cfg.INVOKE_CTX_PREFIX}:{run-example-*}`,
  ]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      for (const k of keys) found.add(k);
    } while (cursor !== '0');
  }
  return found;
}

main().catch((err: unknown) => {
  console.error(`enqueue-example failed: ${(err as Error).message}`);
  process.exit(1);
});
