/**
 * npm run enqueue-example: see one journey step run end to end in a few seconds.
 *
 *   1. start a mock partner API on loopback (a loyalty endpoint that checks a bearer token)
 *   2. start a worker in this process (INVOKE_ALLOW_PRIVATE=127.0.0.1/32 so it may call it)
 *   3. enqueue a sample step with the TypeScript client against REDIS_URL
 *   4. wait for the continuation event, then print it and the saved envelope
 *
 * It uses its own queue (invoke-api-example) and key prefixes (example:...) so a real worker
 * on the same Redis never picks the job up. Needs only a Redis (REDIS_URL, default local).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
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
    res.end(JSON.stringify(ok ? { customer: req.url?.split('/').pop(), points: 42, tier: { name: 'gold' } } : { error: 'bad token' }));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function waitForEvent(redis: Redis, stream: string, eventId: string, fromId: string): Promise<Record<string, string>> {
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
  throw new Error(`no continuation event for ${eventId} within 20 s: is Redis reachable at REDIS_URL?`);
}

async function main(): Promise<void> {
  const partner = await startMockPartner();
  const partnerUrl = `http://127.0.0.1:${(partner.address() as AddressInfo).port}`;
  const cfg = loadConfig({
    REDIS_URL: process.env.REDIS_URL,
    INVOKE_QUEUE: 'invoke-api-example',
    INVOKE_CTX_PREFIX: 'example:ctx',
    INVOKE_EVENTS_STREAM: 'example:continuations',
    INVOKE_CTX_TTL_SECONDS: '3600',
    INVOKE_ALLOW_PRIVATE: '127.0.0.1/32',
    INVOKE_SECRET_LOYALTY_TOKEN: TOKEN,
    LOG_LEVEL: 'warn',
  });
  const worker = createWorkerApp(cfg, createLogger(cfg.LOG_LEVEL, createScrubber(cfg.secrets)));
  const client = createInvokeClient({ redisUrl: cfg.REDIS_URL, queue: cfg.INVOKE_QUEUE, ctxPrefix: cfg.INVOKE_CTX_PREFIX });
  const reader = new Redis(cfg.REDIS_URL);
  try {
    const step = {
      v: 1 as const,
      journeyId: 'welcome-flow',
      runId: `run-${randomBytes(3).toString('hex')}`,
      stepId: 'fetch-loyalty',
      customerId: 'cus-123',
      request: { method: 'GET' as const, url: `${partnerUrl}/loyalty/{{ customer.id }}`, headers: { Authorization: 'Bearer {{ secrets.LOYALTY_TOKEN }}' } },
      data: { customer: { id: 'cus-123', email: 'a@b.co' } },
      save: { variable: 'loyalty', pick: { points: 'body.points', tier: 'body.tier.name' } },
    };
    const fromId = `${Date.now() - 1}-0`;
    const started = performance.now();
    const { jobId, deduplicated } = await client.enqueue(step);
    console.log(`enqueued ${jobId} (deduplicated: ${deduplicated}) on queue ${cfg.INVOKE_QUEUE}`);
    const event = await waitForEvent(reader, cfg.INVOKE_EVENTS_STREAM, jobId, fromId);
    console.log(`\ncontinuation event on ${cfg.INVOKE_EVENTS_STREAM} after ${Math.round(performance.now() - started)} ms:`);
    console.log(event);
    const saved = await reader.hget(contextKey(cfg.INVOKE_CTX_PREFIX, step.runId), step.save.variable);
    console.log(`\nenvelope saved in ${contextKey(cfg.INVOKE_CTX_PREFIX, step.runId)} field ${step.save.variable}:`);
    console.log(JSON.stringify(JSON.parse(saved ?? 'null'), null, 2));
    console.log(`\nthe same through the HTTP API (npm start): curl -H "Authorization: Bearer $INVOKE_API_TOKEN" http://127.0.0.1:8080/v1/invocations/${encodeURIComponent(jobId)}`);
  } finally {
    await worker.close(5000);
    await client.close();
    reader.disconnect();
    partner.close();
  }
}

main().catch((err: unknown) => {
  console.error(`enqueue-example failed: ${(err as Error).message}`);
  process.exit(1);
});
