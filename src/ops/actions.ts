/**
 * Operator actions on failed jobs. Both resolve their targets first (explicit ids, or a bounded
 * scan with filters), then act job by job after re-checking that the job is still failed, so
 * running a command twice is safe: the second run finds nothing left to do.
 *
 *   retry    moves the job back to wait with a fresh set of attempts (attemptsMade and
 *            attemptsStarted reset), as if it had just been enqueued.
 *   discard  for a held job (onFailure=hold, nothing emitted yet): saves a DISCARDED envelope and
 *            emits invoke.failed with errorCode DISCARDED (contract section 3), then removes the
 *            job. A job that already emitted invoke.failed (onFailure=continue) is only removed.
 */
import type { Job, Queue } from 'bullmq';
import { idempotencyKey } from '../contract/idempotency.js';
import { buildEvent } from '../events/continuation.js';
import { salvageIdentity } from '../contract/salvage.js';
import { invokeJobSchema } from '../contract/job.js';
import type { WriteResult } from '../store/result-writer.js';
import type { Envelope } from '../contract/envelope.js';
import { failureOf, type FailureFilter } from './failure.js';
import { scanFailed } from './scan.js';
import { assertVisible, type TenantScope } from './tenant-scope.js';

/**
 * Explicit ids (with `tenant`, only that tenant's jobs: tenant-scope.ts, all or nothing), or a
 * bounded scan with filters (whose `tenant` scopes it the same way).
 */
export type Target =
  | { ids: string[]; tenant?: TenantScope | undefined }
  | { filter: FailureFilter };
export type Progress = (done: number, total: number) => void;

export interface ActionOptions {
  dryRun?: boolean | undefined;
  onProgress?: Progress | undefined;
}

export interface ActionResult {
  action: 'retry' | 'discard';
  dryRun: boolean;
  matched: number;
  /** Retried, or discarded (emitted + removed). */
  done: string[];
  /** Removed without emitting (already emitted invoke.failed). */
  removed: string[];
  skipped: { id: string; reason: string }[];
  scanned?: number;
}

const BATCH = 50;

async function resolve(queue: Queue, target: Target): Promise<{ ids: string[]; scanned?: number }> {
  if ('ids' in target) {
    const ids = [...new Set(target.ids)];
    if (target.tenant !== undefined) await assertVisible(queue, ids, target.tenant);
    return { ids };
  }
  const { failures, scanned } = await scanFailed(queue, { filter: target.filter });
  return { ids: failures.map((f) => f.id), scanned };
}

/** Runs `act` over the ids in small concurrent batches, reporting progress after each batch. */
async function each(
  ids: string[],
  act: (id: string) => Promise<void>,
  onProgress?: Progress,
): Promise<void> {
  for (let i = 0; i < ids.length; i += BATCH) {
    await Promise.all(ids.slice(i, i + BATCH).map(act));
    onProgress?.(Math.min(i + BATCH, ids.length), ids.length);
  }
}

/** The job if it is (still) failed, else why not. */
async function failedJob(queue: Queue, id: string): Promise<Job | string> {
  const job = await queue.getJob(id);
  if (!job) return 'not found';
  const state = await job.getState();
  return state === 'failed' ? job : `not failed (${state})`;
}

/** The result of an action over `ids` before any of them is done. */
function emptyResult(
  action: ActionResult['action'],
  ids: string[],
  scanned: number | undefined,
  opts: ActionOptions,
): ActionResult {
  return {
    action,
    dryRun: Boolean(opts.dryRun),
    matched: ids.length,
    done: [],
    removed: [],
    skipped: [],
    ...(scanned !== undefined ? { scanned } : {}),
  };
}

export async function retryJobs(
  queue: Queue,
  target: Target,
  opts: ActionOptions = {},
): Promise<ActionResult> {
  const { ids, scanned } = await resolve(queue, target);
  const result = emptyResult('retry', ids, scanned, opts);
  await each(
    ids,
    async (id) => {
      const job = await failedJob(queue, id);
      if (typeof job === 'string') return void result.skipped.push({ id, reason: job });
      if (opts.dryRun) return void result.done.push(id);
      try {
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
        result.done.push(id);
      } catch {
        // Someone else retried or removed it between our check and the move.
        result.skipped.push({ id, reason: 'changed state while retrying' });
      }
    },
    opts.onProgress,
  );
  return result;
}

export function discardEnvelope(job: Job, eventId: string, now = new Date()): Envelope {
  const f = failureOf(job);
  const last = f.reason ? ` (last error: ${f.reason})` : '';
  return {
    ok: false,
    status: f.status,
    body: null,
    truncated: false,
    headers: {},
    error: { code: 'DISCARDED', message: `discarded by an operator${last}`, retryable: false },
    attempts: job.attemptsMade,
    durationMs: 0,
    at: now.toISOString(),
    eventId,
  };
}

export async function discardJobs(
  queue: Queue,
  writeResult: WriteResult,
  target: Target,
  opts: ActionOptions = {},
): Promise<ActionResult> {
  const { ids, scanned } = await resolve(queue, target);
  const result = emptyResult('discard', ids, scanned, opts);
  await each(
    ids,
    async (id) => {
      const job = await failedJob(queue, id);
      if (typeof job === 'string') return void result.skipped.push({ id, reason: job });
      const full = invokeJobSchema.safeParse(job.data);
      const identity = full.success ? full.data : salvageIdentity(job.data);
      const held = identity?.onFailure === 'hold';
      if (!opts.dryRun) {
        if (held) {
          const envelope = discardEnvelope(job, idempotencyKey(identity));
          // Saved and emitted before the job goes: a crash in between leaves the job to discard again.
          await writeResult({
            runId: identity.runId,
            variable: identity.save.variable,
            envelope,
            event: buildEvent(identity, id, envelope),
          });
        }
        await job.remove();
      }
      (held ? result.done : result.removed).push(id);
    },
    opts.onProgress,
  );
  return result;
}

/** Removes finished jobs older than graceMs in bounded batches (queue.clean with a limit). */
export async function cleanJobs(
  queue: Queue,
  state: 'completed' | 'failed',
  graceMs: number,
  batch = 1000,
): Promise<number> {
  let total = 0;
  for (;;) {
    const removed = await queue.clean(graceMs, batch, state);
    total += removed.length;
    if (removed.length < batch) return total;
  }
}
