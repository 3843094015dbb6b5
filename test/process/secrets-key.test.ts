/**
 * INVOKE_SECRETS_KEY at start, as the real process (dist/main.js) meets it (contract v1.1
 * section 6.1, issue 21: "a missing or wrong key at start stops the process naming the
 * variable"): a malformed key, a key that does not open the tenant secrets stored in Redis, and
 * no key while secrets are stored each end in exit 2 and one line on stderr naming
 * INVOKE_SECRETS_KEY, never a key, before the worker takes a job. During a rotation (the new key,
 * the old one in INVOKE_SECRETS_OLD_KEYS) the same store starts.
 */
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createTenancy } from '../../src/tenants/index.js';
import { jobData } from '../helpers/harness.js';
import { freePort } from '../helpers/redis-server.js';
import { cleanNamespace, namespace, redisClient } from '../helpers/redis.js';
import { json, startUpstream, type Upstream } from '../helpers/upstream.js';
import { startWorker, type WorkerProcess } from '../helpers/worker-process.js';

const ns = namespace('secrets-key');
const redis = redisClient();
const STORED_UNDER = randomBytes(32).toString('base64');
const OTHER = randomBytes(32).toString('base64');
let up: Upstream;
let queue: Queue;
const started: WorkerProcess[] = [];

beforeAll(async () => {
  up = await startUpstream((_r, res) => json(res, 200, { ok: true }));
  const cfg = loadConfig({ ...ns.env, INVOKE_SECRETS_KEY: STORED_UNDER });
  await createTenancy(cfg, redis).secrets.set('acme', 'API_KEY', {
    value: 'acme-api-key-value',
    hosts: ['127.0.0.1'],
  });
  // A job waiting all along: a process that stops at the key check must not have taken it.
  queue = new Queue(ns.queue, { connection: redisClient(), prefix: ns.prefix });
  await queue.add('invoke', jobData({ request: { url: `${up.url}/x` } }));
});

afterAll(async () => {
  for (const w of started) await w.stop(3000);
  await queue.close();
  await (queue.opts.connection as { quit?: () => Promise<unknown> }).quit?.();
  await up.close();
  await cleanNamespace(redis, ns);
  await redis.quit();
});

async function start(keys: Record<string, string>, waitFor: string | null = null) {
  const w = await startWorker(
    { ...ns.env, PORT: String(await freePort()), INVOKE_ALLOW_PRIVATE: '127.0.0.1/32', ...keys },
    { waitFor },
  );
  started.push(w);
  return w;
}

/** Exit 2, exactly one line on stderr, that line `expected`, no key in any output, no job taken. */
async function expectRefused(w: WorkerProcess, expected: RegExp) {
  // A process that did not refuse keeps running: fail after a minute (a loaded box's start-up)
  // rather than at the test timeout.
  const timeout = new Promise<{ code: string }>((r) =>
    setTimeout(() => r({ code: 'still running after 60 s' }), 60_000).unref(),
  );
  expect((await Promise.race([w.exited, timeout])).code).toBe(2);
  const lines = w.stderr().split('\n').filter(Boolean);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(expected);
  expect(w.hasLog((l) => l.msg === 'worker started' || l.msg === 'HTTP server listening')).toBe(
    false,
  );
  for (const key of [STORED_UNDER, OTHER])
    expect(w.stderr() + JSON.stringify(w.logs)).not.toContain(key);
  expect(await queue.getWaitingCount()).toBe(1);
}

describe('INVOKE_SECRETS_KEY at start', { timeout: 180_000 }, () => {
  it('a malformed key: exit 2 naming the variable and the fix', async () => {
    const w = await start({ INVOKE_SECRETS_KEY: 'not-a-key-0123456789' });
    await expectRefused(
      w,
      /^invoke-api-worker: invalid configuration: INVOKE_SECRETS_KEY: .*base64 of 32 random bytes/,
    );
    expect(w.stderr()).not.toContain('not-a-key-0123456789');
  });

  it('a well-formed key that does not open the stored tenant secrets: exit 2 naming the variable', async () => {
    const w = await start({ INVOKE_SECRETS_KEY: OTHER });
    await expectRefused(
      w,
      /^invoke-api-worker: invalid configuration: INVOKE_SECRETS_KEY: does not open the stored secrets/,
    );
  });

  it('no key while tenant secrets are stored: exit 2 naming the variable', async () => {
    const w = await start({});
    await expectRefused(
      w,
      /^invoke-api-worker: invalid configuration: INVOKE_SECRETS_KEY: not set, but secrets sealed with key id .* are stored/,
    );
  });

  it('during a rotation (new key, the old one in INVOKE_SECRETS_OLD_KEYS) it starts', async () => {
    const w = await start(
      { INVOKE_SECRETS_KEY: OTHER, INVOKE_SECRETS_OLD_KEYS: STORED_UNDER },
      'worker started',
    );
    expect(w.stderr()).toBe('');
    await w.stop();
  });
});
