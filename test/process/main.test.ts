/** The service as `npm start` runs it: node dist/main.js as a subprocess (built by `npm test`). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { Queue } from 'bullmq';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { namespace, redisClient, cleanNamespace } from '../helpers/redis.js';
import { jobData } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';
import { contextKey } from '../../src/store/context.js';

const MAIN = new URL('../../dist/main.js', import.meta.url).pathname;

function start(env: Record<string, string>): {
  child: ChildProcess;
  out: () => string;
  exit: Promise<number | null>;
} {
  let out = '';
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => out, exit };
}

describe('process', () => {
  it('a bad configuration value stops the process with a message naming the variable', async () => {
    const p = start({ INVOKE_CONCURRENCY: 'many' });
    expect(await p.exit).toBe(2);
    expect(p.out()).toContain('INVOKE_CONCURRENCY: ');
  });

  it('a misspelled INVOKE_* variable is an error naming the nearest setting under INVOKE_STRICT_CONFIG', async () => {
    const p = start({ INVOKE_CONCURENCY: '5', INVOKE_STRICT_CONFIG: 'true' });
    expect(await p.exit).toBe(2);
    expect(p.out()).toContain(
      'INVOKE_CONCURENCY is not a known setting and is ignored: did you mean INVOKE_CONCURRENCY?',
    );
  });

  it('a misspelled INVOKE_* variable is a warning at start otherwise', async () => {
    const p = start({
      INVOKE_CONCURENCY: '5',
      REDIS_URL: 'redis://127.0.0.1:1',
      INVOKE_REDIS_STARTUP_GRACE_MS: '200',
      INVOKE_API_ENABLED: 'false',
    });
    expect(await p.exit).toBe(1); // Redis on port 1 is unreachable: the warning comes first
    const warning = p
      .out()
      .split('\n')
      .find((l) => l.includes('INVOKE_CONCURENCY'));
    expect(JSON.parse(warning!)).toMatchObject({
      level: 40,
      variable: 'INVOKE_CONCURENCY',
      suggestion: 'INVOKE_CONCURRENCY',
    });
  });

  it('refuses to serve the API on a non-loopback address without a token', async () => {
    const p = start({ INVOKE_API_HOST: '0.0.0.0', INVOKE_WORKER_ENABLED: 'false' });
    expect(await p.exit).toBe(2);
    expect(p.out()).toContain('INVOKE_API_TOKEN: required');
  });
});

describe('graceful shutdown', () => {
  const ns = namespace('main');
  const redis = redisClient();
  let up: Upstream;
  let queue: Queue;
  beforeAll(async () => {
    up = await startUpstream();
    queue = new Queue(ns.queue, { connection: redisClient(), prefix: ns.prefix });
  });
  afterAll(async () => {
    await queue.close();
    await up.close();
    await cleanNamespace(redis, ns);
    await redis.quit();
  });

  it('on SIGTERM stops taking jobs, lets in-flight calls finish and saves them, then exits 0', async () => {
    const release: (() => void)[] = [];
    up.handle((_r, res) => release.push(() => json(res, 200, { late: true })));
    const p = start({
      ...ns.env,
      INVOKE_ALLOW_PRIVATE: '127.0.0.1/32',
      INVOKE_API_ENABLED: 'false',
      INVOKE_CONCURRENCY: '5',
    });
    const jobs = Array.from({ length: 8 }, () => jobData({ request: { url: `${up.url}/slow` } }));
    await queue.addBulk(jobs.map((data) => ({ name: 'invoke', data })));
    await waitFor(async () => release.length === 5, '5 calls in flight', 15_000);
    p.child.kill('SIGTERM');
    await waitFor(async () => p.out().includes('shutting down'), 'shutdown log');
    for (const r of release) r();
    expect(await p.exit).toBe(0);
    const saved = await Promise.all(
      jobs.map((j) => redis.hexists(contextKey(ns.ctxPrefix, j.runId), 'loyalty')),
    );
    expect(saved.filter(Boolean)).toHaveLength(5); // the in-flight five; the other three wait in the queue
    expect(await queue.getWaitingCount()).toBe(3);
    expect(up.requests).toHaveLength(5);
  });
});
