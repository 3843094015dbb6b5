/**
 * Issue 6: other hosts are never slowed by a limited one. A slow host capped at 2 calls in
 * flight and 5/s has 30 jobs queued ahead of 30 jobs for an unlimited host, on a worker with 4
 * slots. Held-back jobs go to the delayed set and free their worker slot at once, so the
 * unlimited host's jobs finish while the limited host is still working through its backlog.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from 'bullmq';
import { jobData } from '../helpers/harness.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { waitForJob } from '../helpers/wait.js';
import { startDestHarness, type DestHarness } from './dest-harness.js';

let h: DestHarness;
let slow: Upstream;
let fast: Upstream;

beforeAll(async () => {
  slow = await startUpstream((_r, res) => void setTimeout(() => json(res, 200, {}), 400));
  fast = await startUpstream();
  h = await startDestHarness(
    { hosts: { [`127.0.0.1:${slow.port}`]: { maxConcurrent: 2, ratePerSecond: 5 } } },
    { INVOKE_CONCURRENCY: '4' },
  );
});
afterAll(async () => {
  await h.close();
  await slow.close();
  await fast.close();
});

const add = (u: Upstream, n: number) =>
  h.queue.addBulk(
    Array.from({ length: n }, () => ({
      name: 'invoke',
      data: jobData({ request: { url: `${u.url}/x` } }),
      opts: { attempts: 1 },
    })),
  );
/** waitForJob may hand back the job as read before it finished: read it again. */
const completed = async (id: string, timeoutMs?: number) => (
  await waitForJob(h.queue, id, 'completed', timeoutMs), (await h.queue.getJob(id))!
);
const p = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

describe('a limited host next to an unlimited one', () => {
  it("does not delay the unlimited host's jobs", async () => {
    const limited = await add(slow, 30);
    const free = await add(fast, 30);
    const done: Job[] = [];
    for (const j of free) done.push(await completed(j.id!));
    const lastFree = Math.max(...done.map((j) => j.finishedOn!));
    const latency = done.map((j) => j.finishedOn! - j.timestamp);
    const limitedDoneBy = (await Promise.all(limited.map((j) => h.queue.getJob(j.id!)))).filter(
      (j) => j!.finishedOn !== undefined && j!.finishedOn <= lastFree,
    ).length;
    console.log(
      `unlimited host: p50 ${p(latency, 0.5)} ms, p95 ${p(latency, 0.95)} ms, max ${Math.max(...latency)} ms; limited host had ${limitedDoneBy}/30 done by then`,
    );
    // 30 limited jobs need >= 6 s at 5/s; without isolation the 30 unlimited ones would wait behind them.
    expect(limitedDoneBy).toBeLessThan(15);
    for (const j of limited) expect((await completed(j.id!, 30_000)).attemptsMade).toBe(1);
    // The slow host never had more than 2 calls in flight.
    const starts = slow.requests.map((r) => r.at).sort((a, b) => a - b);
    for (let i = 2; i < starts.length; i++)
      expect(starts[i]! - starts[i - 2]!).toBeGreaterThanOrEqual(380);
  }, 40_000);
});
