/**
 * Issue 18: every job whose journeyId, runId and stepId can be read gets its invoke.failed
 * event (INVALID_JOB), so no customer waits forever on a malformed step; the context write is
 * skipped only when save has no valid variable name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, jobData, type Harness } from '../helpers/harness.js';
import { waitForJob } from '../helpers/wait.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const eventsFor = async (runId: string) => (await h.events()).filter((e) => e.runId === runId);

async function fail(data: Record<string, unknown>) {
  const job = await h.queue.add('invoke', data, { attempts: 3 });
  await waitForJob(h.queue, job.id!, 'failed');
  return (await h.queue.getJob(job.id!))!;
}

describe('INVALID_JOB reaches the journey whenever the step can be named', () => {
  it.each([
    ['save is not an object', { save: 'loyalty' }, /^INVALID_JOB: save: /],
    [
      'save.variable is not a valid name',
      { save: { variable: 'has space' } },
      /^INVALID_JOB: save\.variable: /,
    ],
    ['save is missing', { save: undefined }, /^INVALID_JOB: save: /],
  ])('%s: event with an empty variable, nothing saved', async (_name, over, reason) => {
    const data = { ...jobData(), ...over };
    const job = await fail(data);
    expect(job.failedReason).toMatch(reason);
    expect(job.attemptsMade).toBe(1);
    const events = await eventsFor(data.runId);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'invoke.failed',
      errorCode: 'INVALID_JOB',
      variable: '',
      journeyId: data.journeyId,
      stepId: data.stepId,
    });
    expect(await h.context(data.runId)).toEqual({});
  });

  it('an invalid customerId, visit and onFailure: event with defaults, envelope saved under the variable', async () => {
    const data = {
      ...jobData(),
      customerId: 42,
      visit: 'two',
      onFailure: 'explode',
      request: { method: 'FETCH', url: 'x' },
    };
    const job = await fail(data);
    expect(job.failedReason).toMatch(/^INVALID_JOB: /);
    const events = await eventsFor(data.runId);
    expect(events).toMatchObject([
      {
        type: 'invoke.failed',
        errorCode: 'INVALID_JOB',
        variable: 'loyalty',
        customerId: '',
        visit: '1',
      },
    ]);
    expect((await h.context(data.runId)).loyalty).toMatchObject({
      ok: false,
      error: { code: 'INVALID_JOB' },
    });
  });

  it('without a readable runId nothing is written (nothing to address)', async () => {
    const data = { ...jobData(), runId: '' };
    const job = await fail(data);
    expect(job.failedReason).toMatch(/^INVALID_JOB: runId/);
    expect((await h.events()).filter((e) => e.jobId === job.id)).toHaveLength(0);
  });
});
