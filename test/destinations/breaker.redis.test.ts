/**
 * Issue 6 through the real worker: the breaker holds jobs back (no attempts burnt, no job
 * failed) while a host is down and closes when it recovers; Retry-After pauses the host for
 * all jobs; past the destination deadline a held job fails CIRCUIT_OPEN / RATE_LIMITED.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { jobData } from '../helpers/harness.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { waitFor, waitForJob } from '../helpers/wait.js';
import { startDestHarness, type DestHarness } from './dest-harness.js';
import { openBreaker } from '../../src/destinations/admin.js';

let h: DestHarness | undefined;
let up: Upstream | undefined;
afterEach(async () => {
  await h?.close();
  await up?.close();
  h = undefined;
  up = undefined;
});

const hostOf = (u: Upstream) => `127.0.0.1:${u.port}`;
/** waitForJob may hand back the job as read before it settled: read it again. */
const settled = async (id: string, state: 'completed' | 'failed') => (
  await waitForJob(h!.queue, id, state), (await h!.queue.getJob(id))!
);

describe('circuit breaker in the worker', () => {
  it('opens when the upstream starts failing, fails no job while open, closes when it recovers', async () => {
    up = await startUpstream();
    h = await startDestHarness({
      hosts: { [`127.0.0.1:${up.port}`]: { breaker: { consecutiveFailures: 3, openMs: 800 } } },
    });
    const host = hostOf(up);
    const add = () =>
      h!.queue.add('invoke', jobData({ request: { url: `${up!.url}/x` } }), {
        attempts: 8,
        backoff: { type: 'fixed', delay: 100 },
      });
    await waitForJob(h.queue, (await add()).id!, 'completed');

    up.handle((_r, res) => json(res, 503, { down: true }));
    const jobs = await Promise.all(Array.from({ length: 10 }, add));
    const ids = jobs.map((j) => j.id!);
    await waitFor(async () => (await h!.host(host))?.breaker === 'open', 'the breaker to open');
    const failingCallsAtOpen = up.requests.length - 1;
    // Hold the outage for a few open periods: probes go through one at a time, jobs wait delayed.
    await new Promise((r) => setTimeout(r, 2500));
    expect(await h.states(ids)).not.toContain('failed');
    const duringOutage = up.requests.length - 1 - failingCallsAtOpen;
    // About one probe per 800 ms open period (plus calls already on the wire when it opened),
    // not 10 jobs retrying every 100 ms.
    expect(duringOutage).toBeLessThanOrEqual(8);

    up.handle((_r, res) => json(res, 200, { ok: true }));
    for (const id of ids) await waitForJob(h.queue, id, 'completed');
    expect((await h.host(host))?.breaker).toBe('closed');
    // Waiting while open never counted as an attempt: only real calls did.
    const made = await Promise.all(
      ids.map(async (id) => (await h!.queue.getJob(id))!.attemptsMade),
    );
    expect(made.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(
      10 + failingCallsAtOpen + duringOutage,
    );
    expect(h.logs.join('')).toContain('destination breaker opened');
    expect(h.logs.join('')).toContain('destination breaker closed');
  });

  it('pauses the host for every job on 429 with Retry-After, not just the one that got it', async () => {
    up = await startUpstream((_r, res, n) =>
      n === 1 ? json(res, 429, {}, { 'retry-after': '1' }) : json(res, 200, {}),
    );
    h = await startDestHarness({});
    const first = await h.queue.add('invoke', jobData({ request: { url: `${up.url}/a` } }), {
      attempts: 3,
      backoff: { type: 'fixed', delay: 10 },
    });
    await waitFor(
      async () => (await h!.host(hostOf(up!)))?.pausedUntil ?? undefined,
      'the host to be paused',
    );
    const added = Date.now();
    const other = await h.queue.add('invoke', jobData({ request: { url: `${up.url}/b` } }), {
      attempts: 1,
    });
    await waitForJob(h.queue, other.id!, 'completed');
    expect(up.requests.find((r) => r.url === '/b')!.at - added).toBeGreaterThanOrEqual(700);
    await waitForJob(h.queue, first.id!, 'completed');
    expect((await h.queue.getJob(first.id!))!.attemptsMade).toBe(2);
    expect((await h.queue.getJob(other.id!))!.attemptsMade).toBe(1);
  });

  it('fails a held job past the destination deadline with CIRCUIT_OPEN, saved and emitted like any final failure', async () => {
    up = await startUpstream();
    h = await startDestHarness({ deadlineMs: 1000 });
    await openBreaker(h.redis, h.cfg.BULLMQ_PREFIX, hostOf(up));
    const data = jobData({ request: { url: `${up.url}/held` } });
    const job = await h.queue.add('invoke', data, { attempts: 5 });
    const failed = await settled(job.id!, 'failed');
    expect(failed.failedReason).toMatch(/^CIRCUIT_OPEN: /);
    expect(up.requests).toHaveLength(0);
    const ctx = JSON.parse(
      (await h.redis.hget(`${h.cfg.INVOKE_CTX_PREFIX}:{${data.runId}}`, 'loyalty'))!,
    );
    expect(ctx).toMatchObject({
      ok: false,
      status: null,
      error: { code: 'CIRCUIT_OPEN', retryable: false },
      attempts: 1,
    });
    const events = await h.redis.xrange(h.cfg.INVOKE_EVENTS_STREAM, '-', '+');
    expect(events.flatMap(([, f]) => f).join(' ')).toContain('CIRCUIT_OPEN');
  });

  it('fails RATE_LIMITED when no rate slot is free before the deadline', async () => {
    up = await startUpstream();
    h = await startDestHarness({
      deadlineMs: 1000,
      hosts: { [`127.0.0.1:${up.port}`]: { ratePerSecond: 0.2 } },
    });
    const a = await h.queue.add('invoke', jobData({ request: { url: `${up.url}/a` } }), {
      attempts: 3,
    });
    await waitForJob(h.queue, a.id!, 'completed');
    const b = await h.queue.add('invoke', jobData({ request: { url: `${up.url}/b` } }), {
      attempts: 3,
    });
    const failed = await settled(b.id!, 'failed');
    expect(failed.failedReason).toMatch(/^RATE_LIMITED: /);
    expect(up.requests.map((r) => r.url)).toEqual(['/a']);
  });
});
