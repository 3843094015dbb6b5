/** The API during a Redis outage: 503 instead of a hung request, and a retry is safe. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { buildServer } from '../../src/api/server.js';
import { connectionDown, invocationRoutes } from '../../src/api/routes/invocations.js';
import { createInvokeClient, type InvokeClient } from '../../src/client/create-invoke-client.js';
import { jobData } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';

let port: number;
let server: ChildProcess | undefined;
let client: InvokeClient;
let connection: Redis;
let app: FastifyInstance;

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });

async function startRedis(): Promise<void> {
  server = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const probe = new Redis(port, '127.0.0.1', {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  probe.on('error', () => undefined);
  await waitFor(
    async () =>
      probe.connect().then(
        () => true,
        () => false,
      ),
    'redis-server to start',
  );
  probe.disconnect();
}

function stopRedis(): Promise<void> {
  return new Promise((resolve) => {
    if (!server || server.exitCode !== null) return resolve();
    server.once('exit', () => resolve());
    server.kill('SIGKILL');
  });
}

const post = (payload: object, to = app) =>
  to.inject({ method: 'POST', url: '/v1/invocations', payload });
const unreachable = async () => {
  throw new Error('not used');
};
const cfg = loadConfig({ LOG_LEVEL: 'silent' });
const serve = (deps: Partial<Parameters<typeof invocationRoutes>[0]>) =>
  buildServer({
    cfg,
    logger: createLogger('silent', (s) => s),
    readiness: { checks: {} },
    plugins: [invocationRoutes({ client, dryRun: { run: unreachable }, ...deps })],
  });

beforeAll(async () => {
  port = await freePort();
  await startRedis();
  // Like createRedis(): wait through outages instead of failing commands (1 s between retries).
  connection = new Redis(port, '127.0.0.1', {
    maxRetriesPerRequest: null,
    retryStrategy: () => 1000,
  });
  connection.on('error', () => undefined);
  client = createInvokeClient({ connection });
  await waitFor(async () => connection.status === 'ready', 'the connection');
  app = await serve({ redisReady: () => !connectionDown(connection.status) });
});
afterAll(async () => {
  await app.close();
  await client.close();
  connection.disconnect();
  await stopRedis();
});

describe('Redis outage', () => {
  it('answers 503 with Retry-After at once while the connection is down, or after the bound; a retry is safe', async () => {
    expect((await post(jobData())).statusCode).toBe(202);
    await stopRedis();
    await waitFor(async () => connection.status === 'reconnecting', 'the connection to notice');
    const down = await post(jobData());
    expect(down.statusCode).toBe(503);
    expect(down.headers['retry-after']).toBe('5');
    expect(down.json()).toMatchObject({
      error: 'UNAVAILABLE',
      message: expect.stringContaining('retrying is safe'),
    });
    // The dry run reads Redis too (breaker, context): 503 at once, never reaching dryRun.run.
    const test = await app.inject({
      method: 'POST',
      url: '/v1/invocations/test',
      payload: jobData(),
    });
    expect(test.statusCode).toBe(503);

    // Without the status check (a hung Redis looks "ready"), the time bound answers instead; the
    // add it started stays queued on the connection and runs on reconnect.
    const blind = await serve({ redisTimeoutMs: 200 });
    const data = jobData();
    try {
      expect((await post(data, blind)).statusCode).toBe(503);
    } finally {
      await blind.close();
    }
    await startRedis();
    const retried = await waitFor(async () => {
      const r = await post(data);
      return r.statusCode === 202 && r.json();
    }, 'the API to recover');
    expect(retried).toMatchObject({ deduplicated: true });
    // The restarted redis-server kept nothing: the one job is the add replayed on reconnect.
    expect(await client.queue.getJobCounts('waiting')).toEqual({ waiting: 1 });
  });
});
