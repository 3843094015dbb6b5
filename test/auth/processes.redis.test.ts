/**
 * One token request per credential across every worker process: four `node dist/main.js`
 * workers on one namespace, 200 jobs enqueued at once for one OAuth2 credential, and a slow
 * (300 ms) loopback token server, so every worker wants a token while the first request is out.
 * Without the Redis lock each process would ask (at least 4 requests). Builds dist/ if stale.
 */
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobData } from '../helpers/harness.js';
import { cleanNamespace, dumpNamespace, namespace, redisClient } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';
import { startWorker, type WorkerProcess } from '../helpers/worker-process.js';
import { startTokenServer, type TokenServer } from './token-server.js';

const JOBS = 200;
const ns = namespace('auth-proc');
const redis = redisClient();
const clientSecret = `cs-${randomBytes(8).toString('hex')}`;
let server: TokenServer;
let queue: Queue;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  server = await startTokenServer({ clientSecret, delayMs: 300 });
  const env = {
    ...ns.env,
    INVOKE_API_ENABLED: 'false',
    INVOKE_ALLOW_PRIVATE: '127.0.0.1/32',
    INVOKE_CONCURRENCY: '50',
    INVOKE_SECRETS_KEY: randomBytes(32).toString('base64'),
    INVOKE_CREDENTIAL_LOYALTY: JSON.stringify({
      type: 'oauth2_client_credentials',
      hosts: ['127.0.0.1'],
      tokenUrl: server.tokenUrl,
      clientId: 'client-1',
      clientSecret,
    }),
  };
  workers.push(...(await Promise.all(Array.from({ length: 4 }, () => startWorker(env)))));
  queue = new Queue(ns.queue, { connection: redisClient(), prefix: ns.prefix });
}, 120_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await queue?.close();
  await (queue?.opts.connection as { quit?: () => Promise<unknown> } | undefined)?.quit?.();
  await cleanNamespace(redis, ns);
  await redis.quit();
  await server?.close();
});

describe('an OAuth2 credential used by four worker processes at once', () => {
  it('200 concurrent jobs: exactly one token request, all 200 calls carry that token', async () => {
    const data = Array.from({ length: JOBS }, () =>
      jobData({ request: { url: server.partnerUrl, auth: { credential: 'LOYALTY' } } }),
    );
    await queue.addBulk(
      data.map((d) => ({
        name: 'invoke',
        data: d,
        opts: { attempts: 3, backoff: { type: 'fixed', delay: 50 } },
      })),
    );
    await waitFor(
      async () => (await queue.getCompletedCount()) === JOBS || undefined,
      `${JOBS} completed jobs`,
      60_000,
    );
    expect(server.tokenRequests()).toHaveLength(1);
    expect(server.partnerRequests()).toHaveLength(JOBS);
    expect(new Set(server.partnerRequests().map((r) => r.headers.authorization))).toEqual(
      new Set([`Bearer ${server.issued[0]}`]),
    );
    // Every worker took part (the jobs were not all done by one process).
    const busy = workers.filter((w) => w.logs.some((l) => l.msg === 'attempt'));
    expect(busy.length).toBeGreaterThanOrEqual(2);
  });

  it('the token and the client secret are in no Redis key and no worker log line', async () => {
    const dump = await dumpNamespace(redis, ns);
    const logs = workers.map((w) => JSON.stringify(w.logs) + w.stderr()).join('\n');
    expect(logs).toContain('"msg":"attempt"');
    for (const v of [server.issued[0]!, clientSecret]) {
      for (const spelling of [v, Buffer.from(v).toString('base64'), encodeURIComponent(v)]) {
        expect(dump).not.toContain(spelling);
        expect(logs).not.toContain(spelling);
      }
    }
  });
});
