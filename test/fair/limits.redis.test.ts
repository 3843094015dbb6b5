/**
 * A tenant's maxConcurrent and ratePerSecond (INVOKE_TENANTS) across the worker: held jobs wait
 * without using an attempt, other tenants are not held with them, and a job still held past the
 * tenant deadline fails RATE_LIMITED once, without retries.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createInvokeClient, type InvokeClient } from '../../src/client/create-invoke-client.js';
import { jobData, startHarness, type Harness } from '../helpers/harness.js';
import { redisClient } from '../helpers/redis.js';
import { json, startUpstream, type Upstream } from '../helpers/upstream.js';
import { waitForJob } from '../helpers/wait.js';
import { createOpsEvents, parseOpsEntry, type OpsEvents } from '../../src/ops-events/index.js';

let h: Harness | undefined;
let up: Upstream | undefined;
let client: InvokeClient | undefined;
let ops: OpsEvents | undefined;

afterEach(async () => {
  await client?.close();
  await (client?.queue.opts.connection as { quit?: () => Promise<unknown> } | undefined)?.quit?.();
  await h?.close();
  await up?.close();
  h = up = client = ops = undefined;
});

async function start(tenants: object, withOpsStream = false) {
  const inFlight = new Map<string, number>();
  const most = new Map<string, number>();
  up = await startUpstream((req, res) => {
    const tenant = req.url.split('/')[1]!;
    inFlight.set(tenant, (inFlight.get(tenant) ?? 0) + 1);
    most.set(tenant, Math.max(most.get(tenant) ?? 0, inFlight.get(tenant)!));
    setTimeout(() => {
      inFlight.set(tenant, inFlight.get(tenant)! - 1);
      json(res, 200, { ok: true });
    }, 100);
  });
  const env = { INVOKE_TENANTS: JSON.stringify(tenants), INVOKE_CONCURRENCY: '20' };
  h = withOpsStream
    ? await startHarness(env, (cfg, logger) => {
        ops = createOpsEvents(
          { ...cfg, INVOKE_OPS_STREAM: `${cfg.INVOKE_EVENTS_STREAM}:ops` },
          logger,
        );
        return { hooks: { onTenantLimited: ops.onTenantLimited }, close: () => ops!.close() };
      })
    : await startHarness(env);
  client = createInvokeClient({
    connection: redisClient(),
    queue: h.cfg.INVOKE_QUEUE,
    prefix: h.cfg.BULLMQ_PREFIX,
  });
  return most;
}

const step = (tenantId: string, n: number) =>
  jobData({
    tenantId,
    journeyId: 'j',
    runId: `${tenantId}-${n}`,
    request: { url: `${up!.url}/${tenantId}/${n}` },
  });

describe('tenant limits', () => {
  it('holds a tenant to maxConcurrent without using attempts, and not the others', async () => {
    const most = await start({ tenants: { capped: { maxConcurrent: 2 } } });
    const capped = await client!.enqueueMany(
      Array.from({ length: 12 }, (_, i) => step('capped', i)),
    );
    const free = await client!.enqueueMany(Array.from({ length: 12 }, (_, i) => step('free', i)));
    for (const { jobId } of [...capped, ...free]) {
      const job = await waitForJob(h!.queue, jobId, 'completed', 60_000);
      expect(job!.attemptsMade).toBe(1);
    }
    expect(most.get('capped')).toBe(2);
    expect(most.get('free')).toBeGreaterThan(2);
  }, 90_000);

  it('fails a job still held past the tenant deadline with RATE_LIMITED, in one attempt', async () => {
    await start({ tenants: { slow: { ratePerSecond: 0.1 } }, deadlineMs: 1000 });
    const [first, second] = await client!.enqueueMany([step('slow', 0), step('slow', 1)]);
    await waitForJob(h!.queue, first!.jobId, 'completed');
    const failed = await waitForJob(h!.queue, second!.jobId, 'failed');
    expect(failed!.failedReason).toMatch(
      /^RATE_LIMITED: tenant slow held back by its INVOKE_TENANTS limit past the tenant deadline of 1000 ms/,
    );
    expect(failed!.attemptsMade).toBe(1);
    expect(up!.requests.map((r) => r.url)).toEqual(['/slow/0']);
  }, 60_000);

  it('puts tenant.limited on the operations stream when a tenant is held back, once per window', async () => {
    await start({ tenants: { capped: { maxConcurrent: 1 } } }, true);
    const jobs = await client!.enqueueMany(Array.from({ length: 6 }, (_, i) => step('capped', i)));
    for (const { jobId } of jobs) await waitForJob(h!.queue, jobId, 'completed', 60_000);
    await ops!.emitter.flush();
    const entries = (await h!.redis.xrange(`${h!.cfg.INVOKE_EVENTS_STREAM}:ops`, '-', '+')).map(
      ([id, f]) => parseOpsEntry(id, f),
    );
    const limited = entries.filter((e) => e.type === 'tenant.limited');
    // Several jobs were held (one slot, six jobs), but the stream says it once for the tenant.
    expect(limited).toHaveLength(1);
    expect(limited[0]).toMatchObject({ subject: 'capped', facts: { tenantId: 'capped' } });
    expect(typeof limited[0]!.facts.reason).toBe('string');
  }, 90_000);
});
