/** Contract v1.1 section 6.4 end to end: real workers, Redis and a loopback partner. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkerApp, type WorkerApp } from '../../src/app.js';
import { createLogger } from '../../src/logger.js';
import { createScrubber } from '../../src/template/secrets.js';
import { createOps, type Ops } from '../../src/ops/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { entryKeys } from '../../src/cache/keys.js';
import { startHarness, jobData, type Harness } from '../helpers/harness.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { waitFor, waitForJob } from '../helpers/wait.js';

let h: Harness;
let second: WorkerApp;
let up: Upstream;
let ops: Ops;
const metrics = createMetrics({}, { defaultMetrics: false });
const SECRET = 'sk_live_CACHE_secret_77';

beforeAll(async () => {
  up = await startUpstream();
  h = await startHarness({ INVOKE_SECRET_TOKEN: SECRET }, { observers: [metrics.observe] });
  // A second worker process's pipeline on the same queue: single flight holds across workers.
  second = createWorkerApp(h.cfg, createLogger('silent', createScrubber(h.cfg.secrets)), {
    observers: [metrics.observe],
  });
  await second.worker.waitUntilReady();
  ops = createOps(h.cfg, h.redis);
});
afterAll(async () => {
  await second.close(5000);
  await ops.close();
  await h.close();
  await up.close();
});

let path = 0;
const handlers = new Map<string, (res: import('node:http').ServerResponse) => void>();
beforeAll(() => {
  up.handle((r, res) => (handlers.get(r.url.split('?')[0]!) ?? ((s) => json(s, 404, {})))(res));
});

/** A fresh partner path per test, answering `reply` after `delayMs`; counts its calls. */
function partner(reply: (n: number) => [number, unknown], delayMs = 0) {
  const p = `/p${++path}`;
  let n = 0;
  handlers.set(p, (res) => {
    const [status, body] = reply(++n);
    setTimeout(() => json(res, status, body), delayMs);
  });
  return { url: `${up.url}${p}`, calls: () => n };
}

const add = (data: object) =>
  h.queue.add('invoke', data, { attempts: 2, backoff: { type: 'fixed', delay: 20 } });
const run = async (
  data: ReturnType<typeof jobData>,
  state: 'completed' | 'failed' = 'completed',
) => {
  await waitForJob(h.queue, (await add(data)).id!, state);
  return (await h.context(data.runId))[data.save.variable as string];
};
const step = (url: string, over: Record<string, unknown> = {}) =>
  jobData({
    stepId: `s${path}`,
    request: { url },
    cache: { key: 'offers-{{ customer.store }}', ttlSeconds: 60 },
    data: { customer: { id: 'c', store: 'paris' } },
    ...over,
  });

describe('cache', () => {
  it('200 jobs on one key, two workers: one partner call, 200 envelopes, 199 cached, 200 events', async () => {
    const p = partner(() => [200, { offers: ['a', 'b'] }], 150);
    const jobs = Array.from({ length: 200 }, () => step(p.url, { stepId: 'offers' }));
    await h.queue.addBulk(jobs.map((data) => ({ name: 'invoke', data, opts: { attempts: 2 } })));
    const envelopes = await waitFor(
      async () => {
        const all = await Promise.all(jobs.map(async (j) => (await h.context(j.runId)).loyalty));
        return all.every(Boolean) && all;
      },
      '200 saved envelopes',
      80_000,
    );
    expect(p.calls()).toBe(1);
    expect(envelopes.every((e) => e.ok && e.status === 200 && e.body.offers.length === 2)).toBe(
      true,
    );
    expect(envelopes.filter((e) => e.cached === true)).toHaveLength(199);
    expect(envelopes.filter((e) => e.cached === false)).toHaveLength(1);
    const runs = new Set(jobs.map((j) => j.runId));
    const events = (await h.events()).filter((e) => runs.has(e.runId!));
    expect(events).toHaveLength(200);
    expect(events.every((e) => e.type === 'invoke.completed' && e.status === '200')).toBe(true);
    const text = await metrics.registry.getSingleMetricAsString('invoke_cache_lookups_total');
    expect(text).toMatch(/step="welcome-flow\/offers",result="hit"} \d+/);
  }, 90_000);

  it('keys by tenant, step and rendered key: each scope calls once', async () => {
    const p = partner((n) => [200, { n }]);
    const base = { stepId: 'scoped' };
    await run(step(p.url, base));
    expect((await run(step(p.url, base))).cached).toBe(true);
    expect((await run(step(p.url, { ...base, tenantId: 'acme' }))).cached).toBe(false);
    expect((await run(step(p.url, { ...base, tenantId: 'acme' }))).cached).toBe(true);
    expect((await run(step(p.url, { stepId: 'other-step' }))).cached).toBe(false);
    expect(
      (await run(step(p.url, { ...base, data: { customer: { id: 'c', store: 'lyon' } } }))).cached,
    ).toBe(false);
    expect(p.calls()).toBe(4);
  });

  it("renders the key with the request's scope, context included; a bad key is TEMPLATE_ERROR naming cache.key", async () => {
    const p = partner((n) => [200, { n }]);
    const first = step(p.url, { stepId: 'ctx-first', cache: undefined });
    await run(first);
    const keyed = () =>
      step(p.url, {
        runId: first.runId,
        stepId: 'ctx-key',
        save: { variable: 'second' },
        cache: { key: 'n-{{ context.loyalty.body.n }}', ttlSeconds: 60 },
      });
    expect((await run(keyed())).cached).toBe(false);
    expect((await run(keyed())).cached).toBe(true);
    const bad = step(p.url, {
      stepId: 'bad-key',
      cache: { key: '{{ customer.nope }}', ttlSeconds: 60 },
    });
    expect((await run(bad, 'failed')).error).toMatchObject({
      code: 'TEMPLATE_ERROR',
      message: expect.stringMatching(/^cache\.key: /),
    });
  });

  it('keeps successes only: an expect failure is not cached, the next job calls', async () => {
    const p = partner((n) => [200, { ok: n > 1 }]);
    const over = { stepId: 'rules', expect: { success: 'response.body.ok == true' } };
    expect((await run(step(p.url, over), 'failed')).error.code).toBe('UNEXPECTED_RESPONSE');
    expect((await run(step(p.url, over))).cached).toBe(false);
    expect((await run(step(p.url, over))).cached).toBe(true);
    expect(p.calls()).toBe(2);
  });

  it('never caches a request that carried a secret, unless cache.withSecrets', async () => {
    const p = partner(() => [200, { v: 1 }]);
    const secretStep = (withSecrets: boolean) =>
      step(p.url, {
        stepId: `sec-${withSecrets}`,
        request: { url: p.url, headers: { authorization: 'Bearer {{ secrets.TOKEN }}' } },
        cache: { key: 'k', ttlSeconds: 60, withSecrets },
      });
    expect((await run(secretStep(false))).cached).toBe(false);
    expect((await run(secretStep(false))).cached).toBe(false);
    expect(p.calls()).toBe(2);
    expect((await run(secretStep(true))).cached).toBe(false);
    expect((await run(secretStep(true))).cached).toBe(true);
    expect(p.calls()).toBe(3);
    const text = await metrics.registry.getSingleMetricAsString('invoke_cache_lookups_total');
    expect(text).toMatch(/step="welcome-flow\/sec-false",result="bypass"} 2/);
  });

  it('expires with the TTL', async () => {
    const p = partner((n) => [200, { n }]);
    const data = () => step(p.url, { stepId: 'ttl', cache: { key: 'k', ttlSeconds: 1 } });
    await run(data());
    const { entry } = entryKeys(
      h.cfg.INVOKE_CACHE_PREFIX,
      { journeyId: 'welcome-flow', stepId: 'ttl' },
      'k',
    );
    expect(await h.redis.pttl(entry)).toBeGreaterThan(0);
    await waitFor(async () => (await h.redis.exists(entry)) === 0, 'the entry to expire', 5000);
    expect((await run(data())).cached).toBe(false);
    expect(p.calls()).toBe(2);
  });

  it("cache clear drops one step's entries (all tenants), not another step's", async () => {
    const p = partner((n) => [200, { n }]);
    await run(step(p.url, { stepId: 'clear-me' }));
    await run(step(p.url, { stepId: 'clear-me', tenantId: 't1' }));
    await run(step(p.url, { stepId: 'keep-me' }));
    expect(await ops.clearCache({ journeyId: 'welcome-flow', stepId: 'clear-me' })).toEqual({
      journeyId: 'welcome-flow',
      stepId: 'clear-me',
      tenantId: null,
      removed: 2,
    });
    expect(await ops.clearCache({ journeyId: 'welcome-flow', stepId: 'clear-me' })).toMatchObject({
      removed: 0,
    });
    expect((await run(step(p.url, { stepId: 'clear-me' }))).cached).toBe(false);
    expect((await run(step(p.url, { stepId: 'keep-me' }))).cached).toBe(true);
  });
});
