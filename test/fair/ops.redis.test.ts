/**
 * Operators see the fair index: ops.byTenant (under `invoke-api status --by tenant` and
 * GET /v1/ops/tenants) and the /metrics gauges, with the label set bounded however many tenants
 * wait.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { createInvokeClient, type InvokeClient } from '../../src/client/create-invoke-client.js';
import { createOps, type Ops } from '../../src/ops/index.js';
import { loadConfig } from '../../src/config.js';
import { registerFairMetrics, MAX_TENANTS } from '../../src/fair/metrics.js';
import { cleanNamespace, namespace, redisClient, type Namespace } from '../helpers/redis.js';
import { jobData } from '../helpers/harness.js';
import { ensureBuilt, runCli } from '../helpers/cli.js';

let ns: Namespace;
let redis: ReturnType<typeof redisClient>;
let client: InvokeClient;
let ops: Ops;

beforeEach(async () => {
  ns = namespace('fairops');
  redis = redisClient();
  client = createInvokeClient({ connection: redisClient(), queue: ns.queue, prefix: ns.prefix });
  ops = createOps(loadConfig(ns.env), redis);
  // No worker: nothing is admitted, so every job stays in the index.
  await redis.hset(`${ns.prefix}:${ns.queue}:fair:state`, 'window', 0);
});

afterEach(async () => {
  await ops.close();
  await client.close();
  await (client.queue.opts.connection as { quit(): Promise<unknown> }).quit();
  await cleanNamespace(redis, ns);
  await redis.quit();
});

const steps = (tenantId: string | undefined, n: number) =>
  Array.from({ length: n }, (_, i) =>
    jobData({ runId: `${tenantId}-${i}`, ...(tenantId ? { tenantId } : {}) }),
  );

describe('fair-share visibility', () => {
  it('lists waiting jobs per tenant, largest first, the rest summed', async () => {
    await client.enqueueMany([
      ...steps('big', 5),
      ...steps('mid', 3),
      ...steps(undefined, 2),
      ...steps('one', 1),
    ]);
    expect(await ops.byTenant()).toEqual({
      total: 11,
      tenants: 4,
      others: 0,
      top: [
        { tenant: 'big', waiting: 5 },
        { tenant: 'mid', waiting: 3 },
        { tenant: '(none)', waiting: 2 },
        { tenant: 'one', waiting: 1 },
      ],
    });
    expect(await ops.byTenant(2)).toMatchObject({
      total: 11,
      tenants: 4,
      others: 3,
      top: [{ tenant: 'big' }, { tenant: 'mid' }],
    });
  });

  it('exports bounded gauges: the largest backlogs by name, the rest as (other)', async () => {
    const many = Array.from({ length: MAX_TENANTS + 10 }, (_, i) =>
      steps(`t${String(i).padStart(3, '0')}`, i < 5 ? 3 : 1),
    ).flat();
    await client.enqueueMany(many);
    const registry = new Registry();
    registerFairMetrics(registry, { redis, prefix: ns.prefix, queue: ns.queue });
    const text = await registry.metrics();
    const lines = text.split('\n').filter((l) => l.startsWith('invoke_fair_waiting_jobs{'));
    expect(lines).toHaveLength(MAX_TENANTS + 1);
    expect(text).toContain('invoke_fair_waiting_jobs{tenant="t000"} 3');
    expect(text).toContain('invoke_fair_waiting_jobs{tenant="(other)"} 10');
    expect(text).toContain(`invoke_fair_tenants_waiting ${MAX_TENANTS + 10}`);
  });

  it('invoke-api status --by tenant prints the table, --json the same data, a bad --by is a usage error', async () => {
    ensureBuilt();
    await client.enqueueMany([...steps('big', 4), ...steps(undefined, 1)]);
    const text = await runCli(['status', '--by', 'tenant'], ns.env);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('waiting in the fair-share index: 5 jobs of 2 tenants');
    expect(text.stdout).toMatch(/big\s+4/);
    expect(text.stdout).toMatch(/\(none\)\s+1/);
    const asJson = await runCli(['status', '--by', 'tenant', '--json'], ns.env);
    expect(asJson.json()).toMatchObject({ total: 5, tenants: 2 });
    const bad = await runCli(['status', '--by', 'journey'], ns.env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--by: expected "tenant"');
  }, 60_000);
});
