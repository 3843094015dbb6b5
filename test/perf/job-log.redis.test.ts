/**
 * The attempt's job-log line now rides in the same script as the save and the emit on a single
 * node: it must still appear in BullMQ's job log exactly as Job.log wrote it, once per attempt,
 * respecting keepLogs, and retried attempts still log on their own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, jobData, type Harness } from '../helpers/harness.js';
import { startUpstream, json, type Upstream } from '../helpers/upstream.js';
import { waitForJob } from '../helpers/wait.js';
import { RECORD_PREFIX } from '../../src/attempts/record.js';

/** The attempt lines of a job log; the per-attempt records (src/attempts) share the list. */
async function attemptLines(queue: Harness['queue'], id: string): Promise<string[]> {
  const { logs } = await queue.getJobLogs(id);
  return logs.filter((l) => !l.startsWith(RECORD_PREFIX));
}

let h: Harness;
let up: Upstream;

beforeAll(async () => {
  up = await startUpstream();
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
  await up.close();
});

describe('job log', () => {
  it('has one line for a job done at the first attempt, written with the result and event', async () => {
    up.handle((_r, res) => json(res, 200, { ok: 1 }));
    const data = jobData({ request: { url: `${up.url}/one` } });
    const job = await h.queue.add('invoke', data, { attempts: 3 });
    await waitForJob(h.queue, job.id!, 'completed');
    const logs = await attemptLines(h.queue, job.id!);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/^GET 127\.0\.0\.1\/one -> 200 in \d+ ms \(attempt 1, completed\)$/);
    expect((await h.context(data.runId)).loyalty.ok).toBe(true);
    expect((await h.events()).filter((e) => e.runId === data.runId)).toHaveLength(1);
  });

  it('logs a retried attempt on its own and the final one with the result, trimmed to keepLogs', async () => {
    up.handle((_r, res, n) => (n % 2 === 1 ? json(res, 503, {}) : json(res, 200, { ok: 1 })));
    up.requests.length = 0;
    const data = jobData({ request: { url: `${up.url}/flaky` } });
    const job = await h.queue.add('invoke', data, {
      attempts: 3,
      backoff: { type: 'fixed', delay: 10 },
    });
    await waitForJob(h.queue, job.id!, 'completed');
    const logs = await attemptLines(h.queue, job.id!);
    expect(logs).toHaveLength(2);
    expect(logs[0]).toMatch(/-> 503 .* HTTP_STATUS \(attempt 1, retry\)$/);
    expect(logs[1]).toMatch(/-> 200 .*\(attempt 2, completed\)$/);

    up.handle((_r, res, n) => (n % 2 === 1 ? json(res, 503, {}) : json(res, 200, { ok: 1 })));
    up.requests.length = 0;
    const kept = await h.queue.add('invoke', jobData({ request: { url: `${up.url}/kept` } }), {
      attempts: 3,
      backoff: { type: 'fixed', delay: 10 },
      keepLogs: 1,
    });
    await waitForJob(h.queue, kept.id!, 'completed');
    expect(await attemptLines(h.queue, kept.id!)).toEqual([
      expect.stringMatching(/\(attempt 2, completed\)$/),
    ]);
  });
});
