/**
 * `npm run demo`: a small journey end to end against a local Redis (REDIS_URL), in one process.
 *
 *   1. a mock partner API on loopback (scripts/mock-partner.mjs)
 *   2. the real worker (createWorkerApp) on a namespace of its own (demo:<id>:...), so it never
 *      touches the production queue, context store or stream
 *   3. a tiny journey engine (examples/engine-consumer.ts) that enqueues step 1 (loyalty lookup)
 *      for three customers and, on each continuation event, step 2 (an offer whose body uses
 *      step 1's result through `context`), or the failure branch
 *
 * Ana goes straight through, Ben's offer call gets a 503 once and is retried, Chloe is not a
 * member (404, permanent). Prints each call, the events, the saved context; deletes its keys.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { createScrubber } from '../src/template/secrets.js';
import { createWorkerApp } from '../src/app.js';
import { withTimeout } from '../src/lib/with-timeout.js';
import { readContext, contextKey } from '../src/store/context.js';
import {
  BACKOFF_TYPE,
  JOB_NAME,
  idempotencyKey,
  type ContinuationEvent,
  type Envelope,
  type InvokeJobInput,
} from '../src/index.js';
import { createEngineConsumer } from '../examples/engine-consumer.js';
import { startMockPartner } from './mock-partner.mjs';

const CUSTOMERS = [
  { id: 'cus-ana', name: 'Ana', email: 'ana@example.com' },
  { id: 'cus-ben', name: 'Ben', email: 'ben@example.com' },
  { id: 'cus-chloe', name: 'Chloe', email: 'chloe@example.com' },
];
type Customer = (typeof CUSTOMERS)[number];
const say = (line: string) => process.stdout.write(`${line}\n`);
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const connect = () => new Redis(redisUrl, { maxRetriesPerRequest: null });

/** The worker's configuration on a namespace of its own: nothing under the production names. */
function demoConfig(id: string) {
  return loadConfig({
    REDIS_URL: redisUrl,
    BULLMQ_PREFIX: `${id}:bull`,
    INVOKE_CTX_PREFIX: `${id}:ctx`,
    INVOKE_EVENTS_STREAM: `${id}:continuations`,
    INVOKE_ALLOW_PRIVATE: '127.0.0.1/32',
    INVOKE_CONCURRENCY: '10',
    LOG_LEVEL: 'warn',
  });
}

/** One journey step's job data (contract section 1). */
function step(
  c: Customer,
  stepId: string,
  request: InvokeJobInput['request'],
  variable: string,
): InvokeJobInput {
  return {
    v: 1,
    journeyId: 'welcome-flow',
    runId: `run-${c.id}`,
    stepId,
    customerId: c.id,
    request,
    data: { customer: c },
    save: { variable },
  };
}

async function main(): Promise<number> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
  redis.on('error', () => undefined); // reported below in one sentence instead of a stack per retry
  if (
    !(await withTimeout(
      redis.connect().then(() => redis.ping()),
      3000,
    ))
  ) {
    say(
      `Cannot reach Redis at ${redisUrl}. Start one (redis-server, or: docker compose up -d redis) or set REDIS_URL.`,
    );
    redis.disconnect();
    return 1;
  }
  const id = `demo:${randomBytes(4).toString('hex')}`;
  const cfg = demoConfig(id);
  const partner = await startMockPartner({
    flaky: ['cus-ben'],
    onCall: (c) =>
      say(`  partner  ${c.method} ${c.path}${c.body ? ` ${c.body}` : ''} -> ${c.status}`),
  });
  const app = createWorkerApp(
    cfg,
    createLogger(cfg.LOG_LEVEL, createScrubber(cfg.secrets), process.stderr),
    {
      observers: [
        (a) =>
          say(
            `  worker   ${a.job.data.stepId} for ${a.job.data.customerId}: attempt ${a.job.attemptsMade + 1} -> ${a.status ?? '-'}${a.errorCode ? ` ${a.errorCode}` : ''} (${a.outcome})`,
          ),
      ],
    },
  );
  const queue = new Queue(cfg.INVOKE_QUEUE, { connection: connect(), prefix: cfg.BULLMQ_PREFIX });
  const engineRedis = connect();
  say(
    `Demo journey "welcome-flow" for ${CUSTOMERS.length} customers; partner API at ${partner.url}; keys under ${id}:*\n`,
  );
  let finished = new Map<string, string>();
  try {
    finished = await runJourney(id, cfg, queue, engineRedis, partner.url);
    await printContext(redis, cfg.INVOKE_CTX_PREFIX, finished);
    say(
      '\nDashboard: run `npm start` and open http://127.0.0.1:8080/ui (queue invoke-api; this demo used its own namespace and removes it now).',
    );
  } finally {
    // Always leave the shared Redis as we found it.
    await app.close(5000);
    await queue.close();
    await (queue.opts.connection as Redis).quit();
    await partner.close();
    await engineRedis.quit();
    const removed = await deleteKeys(redis, `${id}:*`);
    await redis.quit();
    say(
      finished.size === CUSTOMERS.length
        ? `Demo finished: ${removed} demo keys removed.`
        : `Demo did not finish within 20 s (${removed} demo keys removed).`,
    );
  }
  return finished.size === CUSTOMERS.length ? 0 : 1;
}

/**
 * A tiny journey engine on examples/engine-consumer.ts: enqueue step 1 for everyone, then react
 * to each continuation event with step 2 or the failure branch. Resolves with each customer's end.
 */
async function runJourney(
  id: string,
  cfg: ReturnType<typeof demoConfig>,
  queue: Queue,
  engineRedis: Redis,
  partnerUrl: string,
): Promise<Map<string, string>> {
  const finished = new Map<string, string>();
  const enqueue = (job: InvokeJobInput) =>
    queue.add(JOB_NAME, job, {
      jobId: idempotencyKey(job),
      attempts: 3,
      backoff: { type: BACKOFF_TYPE, delay: 200 },
    });
  const onEvent = async (e: ContinuationEvent, saved: Envelope | undefined) => {
    say(
      `  event    ${e.type} ${e.stepId} for ${e.customerId}: status=${e.status || '-'} errorCode=${e.errorCode || '-'} attempts=${e.attempts} eventId=${e.eventId}`,
    );
    const c = CUSTOMERS.find((x) => x.id === e.customerId)!;
    if (e.stepId === 'fetch-loyalty' && e.type === 'invoke.completed') {
      say(`  engine   ${c.name} is ${JSON.stringify(saved?.body)}: next step send-offer`);
      // Step 2 reads step 1's saved result through `context` in its body.
      const body = {
        customerId: '{{ customer.id }}',
        tier: '{{ context.loyalty.body.tier.name }}',
        points: '{{ context.loyalty.body.points }}',
      };
      await enqueue(
        step(c, 'send-offer', { method: 'POST', url: `${partnerUrl}/offers`, body }, 'offer'),
      );
    } else if (e.type === 'invoke.failed') {
      say(
        `  engine   ${c.name}: ${e.stepId} failed for good (${e.errorCode} ${e.status}): journey takes its failure branch`,
      );
      finished.set(c.id, `failure branch (${e.errorCode} ${e.status})`);
    } else {
      finished.set(c.id, 'offer sent');
    }
  };
  const engine = createEngineConsumer({
    redis: engineRedis,
    consumer: 'demo-engine',
    stream: cfg.INVOKE_EVENTS_STREAM,
    ctxPrefix: cfg.INVOKE_CTX_PREFIX,
    seenPrefix: `${id}:seen`,
    startId: '0',
    blockMs: 100,
    onEvent,
  });
  await engine.ensureGroup();
  for (const c of CUSTOMERS)
    await enqueue(
      step(c, 'fetch-loyalty', { url: `${partnerUrl}/loyalty/{{ customer.id }}` }, 'loyalty'),
    );
  const deadline = Date.now() + 20_000;
  while (finished.size < CUSTOMERS.length && Date.now() < deadline) await engine.poll();
  return finished;
}

async function printContext(
  redis: Redis,
  ctxPrefix: string,
  finished: Map<string, string>,
): Promise<void> {
  say('\nSaved context per customer (journey context store):');
  for (const c of CUSTOMERS) {
    const key = contextKey(ctxPrefix, `run-${c.id}`);
    say(`  ${c.name} (${key}): ${finished.get(c.id) ?? 'unfinished'}`);
    const saved = Object.entries(await readContext(redis, key)) as [string, { at: string }][];
    for (const [variable, env] of saved.sort(([, a], [, b]) => a.at.localeCompare(b.at)))
      say(`    ${variable} = ${JSON.stringify(env)}`);
  }
}

/** SCAN + DEL, never KEYS: safe on a shared Redis. */
async function deleteKeys(redis: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length) n += await redis.del(...keys);
  } while (cursor !== '0');
  return n;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`demo failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
