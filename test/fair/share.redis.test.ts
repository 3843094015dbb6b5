/**
 * Fair share end to end: three workers on one queue (each its own connections and admitter, as
 * separate processes would be), a loopback partner answering in 200 ms, and a blast of tenant A.
 * A step of tenant B and a step of another journey of A, enqueued behind the blast, reach the
 * partner within a window's and a round of slots' worth of calls, not after the blast; and the
 * blast alone keeps every slot busy. Order is measured, never wall time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkerApp, type WorkerApp } from '../../src/app.js';
import { WINDOW_FRACTION } from '../../src/fair/admitter.js';
import { createInvokeClient, type InvokeClient } from '../../src/client/create-invoke-client.js';
import { createLogger } from '../../src/logger.js';
import { createScrubber } from '../../src/template/secrets.js';
import { jobData, startHarness, type Harness } from '../helpers/harness.js';
import { redisClient } from '../helpers/redis.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { waitFor, waitForJob } from '../helpers/wait.js';

const WORKERS = 3;
const CONCURRENCY = 10;
const SLOTS = WORKERS * CONCURRENCY;
const BLAST = 1200;

let h: Harness;
let up: Upstream;
let client: InvokeClient;
const more: WorkerApp[] = [];
let inFlight = 0;
let maxInFlight = 0;

beforeAll(async () => {
  up = await startUpstream((_req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    setTimeout(() => {
      inFlight--;
      json(res, 200, { ok: true });
    }, 200);
  });
  h = await startHarness({ INVOKE_CONCURRENCY: String(CONCURRENCY), LOG_LEVEL: 'warn' });
  const logger = createLogger('warn', createScrubber(h.cfg.secrets));
  for (let i = 1; i < WORKERS; i++) more.push(createWorkerApp(h.cfg, logger));
  client = createInvokeClient({
    connection: redisClient(),
    queue: h.cfg.INVOKE_QUEUE,
    prefix: h.cfg.BULLMQ_PREFIX,
  });
});

afterAll(async () => {
  await Promise.all(more.map((w) => w.close(5000)));
  await client?.close();
  await (client?.queue.opts.connection as { quit?: () => Promise<unknown> } | undefined)?.quit?.();
  await h?.close();
  await up?.close();
});

const step = (tenantId: string, journeyId: string, path: string, n = 0) =>
  jobData({
    tenantId,
    journeyId,
    runId: `${tenantId}-${journeyId}-${n}`,
    request: { url: `${up.url}${path}` },
  });
const position = (path: string, from: number) =>
  up.requests.findIndex((r) => r.url === path) - from;

describe('fair share across workers', () => {
  it('serves another tenant and another journey ahead of a blast, and the blast uses every slot', async () => {
    await client.enqueueMany(
      Array.from({ length: BLAST }, (_, i) => step('A', 'blast', `/A/blast/${i}`, i)),
    );
    // Steady state: the blast has been running a while when the others arrive.
    await waitFor(async () => up.requests.length >= 300, '300 blast calls');
    const from = up.requests.length;
    const b = await client.enqueue(step('B', 'orders', '/B/orders'));
    const other = await client.enqueue(step('A', 'welcome', '/A/welcome'));
    await waitForJob(h.queue, b.jobId, 'completed');
    await waitForJob(h.queue, other.jobId, 'completed');
    const window = Number(
      await h.redis.hget(`${h.cfg.BULLMQ_PREFIX}:${h.cfg.INVOKE_QUEUE}:fair:state`, 'window'),
    );
    expect(window).toBe(Math.ceil(SLOTS * WINDOW_FRACTION));
    // First-in first-out would put them behind the rest of the blast (thousands of calls).
    const bound = window + SLOTS;
    expect(position('/B/orders', from)).toBeLessThan(bound);
    expect(position('/A/welcome', from)).toBeLessThan(bound);
    expect(BLAST - from).toBeGreaterThan(10 * bound);
    // Nobody else needs capacity: the blast fills the workers' slots, not just the window (an
    // admission fed only by its 100 ms tick would keep about 2 windows, 16 calls, in flight).
    // Not all 30 at once: on a loaded machine a worker's event loop may lag behind its slots.
    expect(maxInFlight).toBeGreaterThanOrEqual(Math.ceil(SLOTS * 0.8));
    await waitFor(
      async () => (await h.queue.getJobCounts('completed')).completed === BLAST + 2,
      'every job completed',
      60_000,
    );
    const blastCalls = up.requests.filter((r) => r.url.startsWith('/A/blast/'));
    expect(new Set(blastCalls.map((r) => r.url)).size).toBe(BLAST);
    expect(blastCalls).toHaveLength(BLAST);
  }, 120_000);
});
