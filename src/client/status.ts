/**
 * What a producer can learn about one invocation: BullMQ's state and attempts, the code of the
 * last failed attempt (our error messages start with "CODE: "), and, once it is finished, the
 * envelope the worker saved in the run's context hash. The envelope is returned only when its
 * eventId is this job's key: a later visit of the same step may have overwritten the variable.
 */
import type { Queue } from 'bullmq';
import type { ErrorCode } from '../contract/errors.js';
import { failureFactsOf } from '../queue/failure-facts.js';
import type { Envelope } from '../contract/envelope.js';
import { idempotencyKey } from '../contract/idempotency.js';
import { contextKey } from '../store/context.js';
import { visibleState } from '../fair/state.js';
import { readRecords } from '../attempts/store.js';
import type { JobRecord } from '../attempts/record.js';

export interface InvocationStatus {
  jobId: string;
  /**
   * BullMQ state: waiting (also in the fair index), delayed (between retries, held by a limit),
   * active, completed, failed, ...
   */
  state: string;
  /** Attempts made so far, and the most the job will get. */
  attempts: number;
  maxAttempts: number;
  lastErrorCode: ErrorCode | null;
  /** Failed with onFailure "hold": waiting for an operator to retry or discard it. */
  held: boolean;
  /** The saved result once the job has finished (null while running, or for a held failure). */
  envelope: Envelope | null;
  enqueuedAt: string;
  finishedAt: string | null;
  /** Per-attempt records and operator actions, oldest first (only when asked for). */
  attemptRecords?: JobRecord[];
}

interface Identity {
  runId?: unknown;
  stepId?: unknown;
  visit?: unknown;
  save?: { variable?: unknown };
  onFailure?: unknown;
}

async function savedEnvelope(
  queue: Queue,
  ctxPrefix: string,
  data: Identity,
): Promise<Envelope | null> {
  const { runId, stepId, save } = data;
  if (typeof runId !== 'string' || typeof stepId !== 'string' || typeof save?.variable !== 'string')
    return null;
  const client = await queue.getBackend().client;
  const raw = await client.hget(contextKey(ctxPrefix, runId), save.variable);
  if (!raw) return null;
  try {
    const envelope = JSON.parse(raw) as Envelope;
    const visit = typeof data.visit === 'number' ? data.visit : 1;
    return envelope.eventId === idempotencyKey({ runId, stepId, visit }) ? envelope : null;
  } catch {
    return null;
  }
}

export async function readStatus(
  queue: Queue,
  ctxPrefix: string,
  jobId: string,
  opts: { attempts?: boolean } = {},
): Promise<InvocationStatus | null> {
  let job = await queue.getJob(jobId);
  if (!job) return null;
  const state = visibleState(await job.getState(), job);
  const finished = state === 'completed' || state === 'failed';
  // The job may have finished between the two reads: then read its fields again, once finished.
  if (finished && !job.finishedOn) job = (await queue.getJob(jobId)) ?? job;
  const envelope = finished ? await savedEnvelope(queue, ctxPrefix, job.data as Identity) : null;
  const records = opts.attempts
    ? (await readRecords(await queue.getBackend().client, `${queue.qualifiedName}:${jobId}`))
        .records
    : undefined;
  return {
    jobId,
    state,
    attempts: job.attemptsMade,
    maxAttempts: job.opts.attempts ?? 1,
    lastErrorCode: failureFactsOf(job)?.code ?? null,
    held: state === 'failed' && (job.data as Identity).onFailure === 'hold' && envelope === null,
    envelope,
    enqueuedAt: new Date(job.timestamp).toISOString(),
    finishedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
    ...(records ? { attemptRecords: records } : {}),
  };
}
