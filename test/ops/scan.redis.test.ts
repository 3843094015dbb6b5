/** The failed-set walk is paged and bounded, and bulk actions report progress per batch. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, jobData, type Harness } from '../helpers/harness.js';
import { waitForJob } from '../helpers/wait.js';
import { scanFailed } from '../../src/ops/scan.js';
import { createOps, type Ops } from '../../src/ops/index.js';

let h: Harness;
let ops: Ops;
const N = 7;

beforeAll(async () => {
  h = await startHarness();
  ops = createOps(h.cfg, h.redis);
  const jobs = await Promise.all(
    Array.from({ length: N }, (_, i) =>
      h.queue.add('invoke', jobData({ journeyId: i % 2 ? 'odd' : 'even' }), { attempts: 1 }),
    ),
  );
  for (const j of jobs) await waitForJob(h.queue, j.id!, 'failed');
});
afterAll(async () => {
  await ops?.close();
  await h?.close();
});

describe('scanFailed', () => {
  it('walks every page, newest first, and stops at limit and cap', async () => {
    const all = await scanFailed(h.queue, { filter: {}, pageSize: 2 });
    expect(all).toMatchObject({ scanned: N, truncated: false });
    expect(new Set(all.failures.map((x) => x.id)).size).toBe(N);
    expect(all.failures.map((x) => x.failedAt)).toEqual(
      [...all.failures.map((x) => x.failedAt)].sort((a, b) => b - a),
    );
    expect(all.failures[0]).toMatchObject({
      code: 'CONNECT_ERROR',
      host: '127.0.0.1',
      status: null,
    });
    expect(await scanFailed(h.queue, { filter: { journey: 'odd' }, pageSize: 2 })).toMatchObject({
      scanned: N,
      truncated: false,
      failures: expect.any(Array),
    });
    expect(
      (await scanFailed(h.queue, { filter: {}, pageSize: 2, limit: 3 })).failures,
    ).toHaveLength(3);
    expect(await scanFailed(h.queue, { filter: {}, pageSize: 2, cap: 4 })).toMatchObject({
      scanned: 4,
      truncated: true,
    });
  });

  it('groups by journey and retries with progress per batch', async () => {
    const g = await ops.groupFailed({}, 'journey');
    expect(g.groups).toEqual([
      { key: 'even', count: 4, example: expect.any(String) },
      { key: 'odd', count: 3, example: expect.any(String) },
    ]);
    const seen: [number, number][] = [];
    const r = await ops.retry(
      { filter: { journey: 'odd' } },
      { dryRun: true, onProgress: (d, t) => seen.push([d, t]) },
    );
    expect(r).toMatchObject({ matched: 3, dryRun: true });
    expect(seen.at(-1)).toEqual([3, 3]);
  });
});
