/**
 * Operators and waiting steps (contract v1.1 section 6.5): list them (soonest deadline first,
 * held ones last), complete one with a body of the operator's, retry (the call is made again
 * under a new token: every token given out before completes nothing), or discard (DISCARDED,
 * invoke.failed). Every action is a compare-and-set on the step in Redis, so running one twice
 * is safe: the second run finds the step no longer waiting and says so.
 */
import type { JobsOptions, Queue } from 'bullmq';
import type { Callbacks } from '../callbacks/service.js';
import { stateName } from '../callbacks/service.js';
import type { InvokeJob } from '../contract/job.js';
import { JOB_NAME } from '../queue/job-options.js';

export interface WaitingStep {
  jobId: string;
  state: string;
  /** ISO time the step times out; null once held. */
  deadline: string | null;
  journeyId?: string;
  runId?: string;
  stepId?: string;
  tenantId?: string;
}

export interface WaitingList {
  waiting: number;
  held: number;
  steps: WaitingStep[];
}

export interface StepActions {
  action: 'complete' | 'retry' | 'discard';
  done: string[];
  skipped: { id: string; reason: string }[];
}

export function createWaitingOps(callbacks: Callbacks, queue: Queue, jobOptions: JobsOptions) {
  const { store } = callbacks;

  async function describe(jobId: string, deadline: number | null): Promise<WaitingStep> {
    const rec = await store.read(jobId);
    const job = rec?.job ? (JSON.parse(rec.job) as InvokeJob) : undefined;
    return {
      jobId,
      state: rec ? stateName(rec.state) : 'gone',
      deadline: deadline === null ? null : new Date(deadline).toISOString(),
      ...(job
        ? {
            journeyId: job.journeyId,
            runId: job.runId,
            stepId: job.stepId,
            ...(job.tenantId ? { tenantId: job.tenantId } : {}),
          }
        : {}),
    };
  }

  /** Sends the job again under its own id: the old BullMQ job (completed) goes first. */
  async function enqueueAgain(jobId: string, job: InvokeJob): Promise<void> {
    const old = await queue.getJob(jobId);
    if (old) await old.remove();
    await queue.add(JOB_NAME, job, { ...jobOptions, jobId });
  }

  async function each(
    action: StepActions['action'],
    ids: string[],
    act: (id: string) => Promise<string | undefined>,
  ): Promise<StepActions> {
    const result: StepActions = { action, done: [], skipped: [] };
    for (const id of new Set(ids)) {
      const reason = await act(id);
      if (reason === undefined) result.done.push(id);
      else result.skipped.push({ id, reason });
    }
    return result;
  }

  return {
    /** How many steps wait for a callback, and how many timed out and are held. */
    counts: () => store.counts(),
    async list(limit = 50, offset = 0): Promise<WaitingList> {
      const [counts, items] = await Promise.all([store.counts(), store.list(offset, limit)]);
      return {
        ...counts,
        steps: await Promise.all(items.map((i) => describe(i.jobId, i.deadline))),
      };
    },
    complete: (ids: string[], body: unknown) =>
      each('complete', ids, async (id) => {
        const r = await callbacks.completeStep(id, body);
        return r.done ? undefined : r.reason;
      }),
    discard: (ids: string[]) =>
      each('discard', ids, async (id) => {
        const r = await callbacks.discardStep(id);
        return r.done ? undefined : r.reason;
      }),
    retry: (ids: string[]) =>
      each('retry', ids, async (id) => {
        const r = await callbacks.reopenStep(id);
        if ('reason' in r) return r.reason;
        try {
          await enqueueAgain(id, r.job);
          return undefined;
        } catch {
          // The step stays "calling": running the retry again re-enqueues it.
          return 'could not enqueue the call again; run the retry again';
        }
      }),
  };
}

export type WaitingOps = ReturnType<typeof createWaitingOps>;
