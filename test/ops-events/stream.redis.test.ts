/**
 * The operations stream against a real worker, Redis, destination limits and loopback partners:
 * a partner that fails opens its breaker (breaker.opened, once however many calls see it, then
 * breaker.closed when it recovers), a job that uses up its attempts is job.exhausted, a held
 * one job.held, a 429 with Retry-After pauses the host (host.paused, then host.resumed), and a
 * configured webhook receives each event signed. Dedup is per subject and group.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, jobData, type Harness } from '../helpers/harness.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { waitFor, waitForJob } from '../helpers/wait.js';
import { cleanNamespace, namespace, namespaceKeys, redisClient } from '../helpers/redis.js';
import { idempotencyKey } from '../../src/contract/idempotency.js';
import { createDestinations } from '../../src/destinations/index.js';
import {
  createOpsEvents,
  parseOpsEntry,
  tenantLimited,
  type OpsEntry,
} from '../../src/ops-events/index.js';
import { createOpsEmitter } from '../../src/ops-events/emitter.js';
import { verify } from '../../src/ops-events/webhook.js';
import { createLogger } from '../../src/logger.js';
import { loadConfig } from '../../src/config.js';
import { REDIS_URL } from '../helpers/redis.js';

const SECRET = 'ops-webhook-secret-0123456789';
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A namespace for the ops stream and its dedup keys (the harness's own is made inside it). */
function opsNamespace() {
  const ns = namespace('ops');
  const redis = redisClient();
  cleanups.push(async () => {
    await cleanNamespace(redis, ns);
    expect(await namespaceKeys(redis, ns)).toEqual([]);
    await redis.quit();
  });
  return { stream: `test:${ns.id}:ops`, redis };
}

async function startOpsHarness(
  env: Record<string, string>,
  destinations: object,
): Promise<Harness> {
  const h = await startHarness(
    { INVOKE_DESTINATIONS: JSON.stringify(destinations), ...env },
    (cfg, logger) => {
      const ops = createOpsEvents(cfg, logger);
      const dest = createDestinations(cfg, logger, undefined, ops.onDestinationEvent);
      return {
        hooks: { ...dest.hooks, observers: [ops.observer, ...dest.hooks.observers] },
        async close() {
          await dest.close();
          await ops.close();
        },
      };
    },
  );
  cleanups.push(() => h.close());
  return h;
}

async function entries(redis: ReturnType<typeof redisClient>, stream: string): Promise<OpsEntry[]> {
  return (await redis.xrange(stream, '-', '+')).map(([id, fields]) => parseOpsEntry(id, fields));
}

describe('operations stream', { timeout: 60_000 }, () => {
  it('breaker.opened/closed, job.exhausted and job.held from a failing partner, each once, posted signed to the webhook', async () => {
    const { stream, redis } = opsNamespace();
    let down = true;
    const up = await startUpstream((r, res) =>
      down ? json(res, 503, { down: true }) : json(res, 200, { ok: true }),
    );
    const hook = await startUpstream((_r, res) => json(res, 204, {}));
    cleanups.push(
      () => up.close(),
      () => hook.close(),
    );
    const host = `127.0.0.1:${up.port}`;
    const h = await startOpsHarness(
      {
        INVOKE_OPS_STREAM: stream,
        INVOKE_OPS_WEBHOOK_URL: `${hook.url}/ops`,
        INVOKE_OPS_WEBHOOK_SECRET: SECRET,
      },
      { hosts: { [host]: { breaker: { consecutiveFailures: 2, openMs: 400 } } } },
    );

    const exhausted = jobData({ request: { url: `${up.url}/points` } });
    const held = jobData({
      onFailure: 'hold',
      stepId: 'held-step',
      request: { url: `${up.url}/points` },
    });
    await h.queue.add('invoke', exhausted, {
      jobId: idempotencyKey(exhausted),
      attempts: 2,
      backoff: { type: 'fixed', delay: 10 },
    });
    await h.queue.add('invoke', held, { jobId: idempotencyKey(held), attempts: 1 });
    await waitForJob(h.queue, idempotencyKey(exhausted), 'failed');
    await waitForJob(h.queue, idempotencyKey(held), 'failed');
    // More calls that see the open breaker (probes that fail reopen it): still one opened event.
    for (let i = 0; i < 3; i++) {
      const more = jobData({ request: { url: `${up.url}/more` } });
      await h.queue.add('invoke', more, { jobId: idempotencyKey(more), attempts: 1 });
      await waitForJob(h.queue, idempotencyKey(more), 'failed');
    }
    down = false;
    const ok = jobData({ request: { url: `${up.url}/ok` } });
    await h.queue.add('invoke', ok, { jobId: idempotencyKey(ok), attempts: 1 });
    await waitForJob(h.queue, idempotencyKey(ok), 'completed');
    await waitFor(
      async () => (await entries(redis, stream)).some((e) => e.type === 'breaker.closed'),
      'breaker.closed',
    );

    const got = await entries(redis, stream);
    const types = got.map((e) => `${e.type} ${e.subject}`);
    expect(types.filter((t) => t.startsWith('breaker.'))).toEqual([
      `breaker.opened ${host}`,
      `breaker.closed ${host}`,
    ]);
    expect(got.find((e) => e.type === 'breaker.opened')!.facts).toEqual({ host, openMs: 400 });
    const ex = got.filter((e) => e.type === 'job.exhausted');
    expect(ex.map((e) => e.subject)).toContain(idempotencyKey(exhausted));
    expect(ex.find((e) => e.subject === idempotencyKey(exhausted))!.facts).toMatchObject({
      jobId: idempotencyKey(exhausted),
      runId: exhausted.runId,
      journeyId: 'welcome-flow',
      stepId: 'fetch-loyalty',
      host: '127.0.0.1',
      attempts: 2,
    });
    const heldEvents = got.filter((e) => e.type === 'job.held');
    expect(heldEvents.map((e) => e.subject)).toEqual([idempotencyKey(held)]);
    expect(heldEvents[0]!.facts).toMatchObject({
      code: 'HTTP_STATUS',
      status: 503,
      attempts: 1,
      detail: expect.stringContaining('answered 503'),
    });
    expect(got.some((e) => e.type === 'job.exhausted' && e.subject === idempotencyKey(held))).toBe(
      false,
    );

    // Every event reached the webhook, signed over its exact body.
    await waitFor(async () => hook.requests.length >= got.length && true, 'webhook deliveries');
    expect(hook.requests.map((r) => JSON.parse(r.body).id).sort()).toEqual(
      got.map((e) => e.id).sort(),
    );
    for (const r of hook.requests) {
      expect(r.url).toBe('/ops');
      expect(r.headers['content-type']).toBe('application/json');
      expect(verify(SECRET, r.body, String(r.headers['x-invoke-signature']))).toBe(true);
      expect(
        verify('another-secret-0123456789', r.body, String(r.headers['x-invoke-signature'])),
      ).toBe(false);
      expect(r.headers['x-invoke-event']).toBe(JSON.parse(r.body).type);
    }
  });

  it('host.paused on a 429 with Retry-After, host.resumed when the pause is over', async () => {
    const { stream, redis } = opsNamespace();
    const up = await startUpstream((r, res) =>
      r.url === '/limited' ? json(res, 429, {}, { 'retry-after': '1' }) : json(res, 200, {}),
    );
    cleanups.push(() => up.close());
    const host = `127.0.0.1:${up.port}`;
    const h = await startOpsHarness(
      { INVOKE_OPS_STREAM: stream },
      { hosts: { [host]: { maxConcurrent: 10 } } },
    );
    const d = jobData({ request: { url: `${up.url}/limited` } });
    await h.queue.add('invoke', d, { jobId: idempotencyKey(d), attempts: 1 });
    await waitForJob(h.queue, idempotencyKey(d), 'failed');
    const all = await waitFor(
      async () => {
        const e = await entries(redis, stream);
        return e.some((x) => x.type === 'host.resumed') && e;
      },
      'host.resumed',
      10_000,
    );
    const got = all.filter((e) => e.type.startsWith('host.'));
    expect(got.map((e) => `${e.type} ${e.subject}`)).toEqual([
      `host.paused ${host}`,
      `host.resumed ${host}`,
    ]);
    expect(Date.parse(got[1]!.at) - Date.parse(got[0]!.at)).toBeGreaterThanOrEqual(950);
    const paused = got[0]!;
    expect(paused.facts).toMatchObject({ host, pauseMs: 1000 });
    const pausedFor = Date.parse(String(paused.facts.until)) - Date.parse(paused.at);
    expect(pausedFor).toBeGreaterThanOrEqual(990);
    expect(pausedFor).toBeLessThanOrEqual(1010);
  });

  it('dedup: same type per subject and group within the window; 0 turns it off; a blocked webhook URL is not called', async () => {
    const { stream, redis } = opsNamespace();
    const lines: string[] = [];
    const logger = createLogger('info', (s) => s, {
      write: (l: string) => void lines.push(l),
    } as never);
    const e = createOpsEmitter(redis, { stream, maxLen: 1000, dedupMs: 60_000, logger });
    const opened = { type: 'breaker.opened', host: 'a.example', openMs: 1000 } as const;
    expect(await e.emit(opened)).toBeDefined();
    expect(await e.emit(opened)).toBeUndefined();
    expect(await e.emit({ type: 'breaker.opened', host: 'b.example', openMs: 1000 })).toBeDefined();
    expect(await e.emit({ type: 'breaker.closed', host: 'a.example' })).toBeDefined();
    expect(await e.emit(opened)).toBeDefined();
    expect(await e.emit(tenantLimited('acme', 'busy', 1234.4))).toBeDefined();
    expect(await e.emit(tenantLimited('acme', 'busy', 99))).toBeUndefined();
    const got = await entries(redis, stream);
    expect(got.map((x) => `${x.type} ${x.subject}`)).toEqual([
      'breaker.opened a.example',
      'breaker.opened b.example',
      'breaker.closed a.example',
      'breaker.opened a.example',
      'tenant.limited acme',
    ]);
    expect(got.at(-1)!.facts).toEqual({ tenantId: 'acme', reason: 'busy', waitMs: 1234 });

    const noDedup = createOpsEmitter(redis, {
      stream: `${stream}-2`,
      maxLen: 1000,
      dedupMs: 0,
      logger,
    });
    await noDedup.emit(opened);
    await noDedup.emit(opened);
    expect(await redis.xlen(`${stream}-2`)).toBe(2);

    // The webhook goes through the egress policy: a metadata address is refused, the stream still has it.
    const cfg = loadConfig({
      REDIS_URL,
      INVOKE_OPS_STREAM: `${stream}-3`,
      INVOKE_OPS_WEBHOOK_URL: 'http://169.254.169.254/hook',
      INVOKE_OPS_WEBHOOK_SECRET: SECRET,
    });
    const ops = createOpsEvents(cfg, logger, redis);
    expect(await ops.emitter.emit(opened)).toBeDefined();
    await ops.close();
    expect(await redis.xlen(`${stream}-3`)).toBe(1);
    expect(lines.join('')).toMatch(/operations webhook not delivered/);
    expect(lines.join('')).toContain('URL_BLOCKED');
  });
});
