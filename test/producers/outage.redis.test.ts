/** The API during a Redis outage: 503 instead of a hung request, and a retry is safe. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { buildServer } from '../../src/api/server.js';
import { invocationRoutes } from '../../src/api/routes/invocations.js';
import { createInvokeClient, type InvokeClient } from '../../src/client/create-invoke-client.js';
import { jobData } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';

let port: number;
let server: ChildProcess | undefined;
let client: InvokeClient;
let connection: Redis;
let app: FastifyInstance;

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as AddressInfo).port;
    s.close(() => resolve(p));
  });
});

async function startRedis(): Promise<void> {
  server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined);
  await waitFor(async () => probe.connect().then(() => true, () => false), 'redis-server to start');
  probe.disconnect();
}

function stopRedis(): Promise<void> {
  return new Promise((resolve) => {
    if (!server || server.exitCode !== null) return resolve();
    server.once('exit', () => resolve());
    server.kill('SIGKILL');
  });
}

const post = (payload: object) => app.inject({ method: 'POST', url: '/v1/invocations', payload });
const unreachable = async () => { throw new Error('not used'); };

beforeAll(async () => {
  port = await freePort();
  await startRedis();
  // Like createRedis(): wait through outages instead of failing commands.
  connection = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: null, retryStrategy: () => 50 });
  connection.on('error', () => undefined);
  client = createInvokeClient({ connection });
  const cfg = loadConfig({ LOG_LEVEL: 'silent' });
  app = await buildServer({ cfg, logger: createLogger('silent', (s) => s), readiness: { checks: {} }, plugins: [invocationRoutes({ client, dryRun: { run: unreachable }, redisTimeoutMs: 300 })] });
});
afterAll(async () => {
  await app.close();
  await client.close();
  connection.disconnect();
  await stopRedis();
});

describe('Redis outage', () => {
  it('answers 503 with Retry-After, and the retried request finds the job once Redis is back', async () => {
    expect((await post(jobData())).statusCode).toBe(202);
    await stopRedis();
    const data = jobData();
    const down = await post(data);
    expect(down.statusCode).toBe(503);
    expect(down.headers['retry-after']).toBe('5');
    expect(down.json()).toMatchObject({ error: 'UNAVAILABLE', message: expect.stringContaining('retrying is safe') });
    await startRedis();
    const retried = await waitFor(async () => { const r = await post(data); return r.statusCode === 202 && r.json(); }, 'the API to recover');
    // The add queued during the outage ran on reconnect: the retry is a no-op, not a second job.
    expect(retried).toMatchObject({ deduplicated: true });
    expect(await client.queue.getJobCounts('waiting')).toEqual({ waiting: 1 });
  });
});
