/**
 * The operator and metrics surfaces of issue 24: `invoke-api cache clear` (built CLI),
 * POST /v1/ops/cache/clear, and the cache and outcome-rule counters on /metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { buildServer } from '../../src/api/server.js';
import { createMetrics } from '../../src/metrics/index.js';
import { createOps, type Ops } from '../../src/ops/index.js';
import { metricsRoutes } from '../../src/api/routes/metrics.js';
import { opsRoutes } from '../../src/api/routes/ops.js';
import { startHarness, jobData, type Harness } from '../helpers/harness.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { waitForJob } from '../helpers/wait.js';
import { ensureBuilt, runCli } from '../helpers/cli.js';

const TOKEN = 'test-token-0123456789abcdef';
let h: Harness;
let up: Upstream;
let ops: Ops;
let server: FastifyInstance;
let base: string;
const metrics = createMetrics({}, { defaultMetrics: false });
const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

beforeAll(async () => {
  ensureBuilt();
  up = await startUpstream((r, res) => json(res, 200, { ok: !r.url.startsWith('/bad') }));
  h = await startHarness({}, { observers: [metrics.observe] });
  ops = createOps(h.cfg, h.redis);
  const cfg = loadConfig({ ...h.ns.env, INVOKE_API_TOKEN: TOKEN, LOG_LEVEL: 'silent' });
  server = await buildServer({
    cfg,
    logger: createLogger('silent', (s) => s),
    readiness: { checks: {} },
    plugins: [metricsRoutes(metrics.registry), opsRoutes(ops)],
  });
  await server.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await server?.close();
  await ops?.close();
  await h?.close();
  await up?.close();
});

/** Runs one job of `stepId` with a cache and returns its envelope. */
async function run(stepId: string, path = '/ok', extra: object = {}) {
  const data = jobData({
    stepId,
    request: { url: `${up.url}${path}` },
    cache: { key: 'k', ttlSeconds: 60 },
    expect: { success: 'response.body.ok' },
    ...extra,
  });
  const job = await h.queue.add('invoke', data, { attempts: 1 });
  await waitForJob(h.queue, job.id!, path.startsWith('/bad') ? 'failed' : 'completed');
  return (await h.context(data.runId)).loyalty;
}

describe('cache clear', () => {
  it("POST /v1/ops/cache/clear drops the step's entries; a bad body is a 400 naming the field", async () => {
    await run('http-step');
    expect((await run('http-step')).cached).toBe(true);
    const res = await fetch(`${base}/v1/ops/cache/clear`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ journeyId: 'welcome-flow', stepId: 'http-step' }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      journeyId: 'welcome-flow',
      stepId: 'http-step',
      tenantId: null,
      removed: 1,
    });
    expect((await run('http-step')).cached).toBe(false);
    const bad = await fetch(`${base}/v1/ops/cache/clear`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ journeyId: 'welcome-flow' }),
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toContain('stepId');
  });

  it('invoke-api cache clear --journey --step [--tenant] drops them too; a missing --step is exit 2', async () => {
    await run('cli-step', '/ok', { tenantId: 'acme' });
    await run('cli-step', '/ok', { tenantId: 'other' });
    const env = { ...h.ns.env, INVOKE_REDIS_STARTUP_GRACE_MS: '3000' };
    const one = await runCli(
      [
        'cache',
        'clear',
        '--journey',
        'welcome-flow',
        '--step',
        'cli-step',
        '--tenant',
        'acme',
        '--json',
      ],
      env,
    );
    expect(one.code).toBe(0);
    expect(one.json()).toEqual({
      journeyId: 'welcome-flow',
      stepId: 'cli-step',
      tenantId: 'acme',
      removed: 1,
    });
    expect((await run('cli-step', '/ok', { tenantId: 'other' })).cached).toBe(true);
    const all = await runCli(
      ['cache', 'clear', '--journey', 'welcome-flow', '--step', 'cli-step'],
      env,
    );
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/^1 cached responses of welcome-flow\/cli-step removed/);
    expect((await runCli(['cache', 'clear', '--journey', 'welcome-flow'], env)).code).toBe(2);
  });
});

describe('metrics', () => {
  it('counts cache hits and misses per step, and outcome-rule failures per host', async () => {
    await run('metric-step');
    await run('metric-step');
    await run('metric-step', '/bad', { cache: { key: 'bad', ttlSeconds: 60 } });
    const text = await (await fetch(`${base}/metrics`, { headers: auth })).text();
    expect(text).toContain(
      'invoke_cache_lookups_total{step="welcome-flow/metric-step",result="miss"} 2',
    );
    expect(text).toContain(
      'invoke_cache_lookups_total{step="welcome-flow/metric-step",result="hit"} 1',
    );
    expect(text).toContain('invoke_outcome_rule_failures_total{host="127.0.0.1"} 1');
  });
});
