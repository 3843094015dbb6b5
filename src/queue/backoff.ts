/**
 * Backoff types registered on the worker (BullMQ settings.backoffStrategy):
 *  - "invoke": exponential with equal jitter, capped (INVOKE_BACKOFF_MAX_MS). Producers use
 *    `backoff: { type: 'invoke', delay: 1000 }`; the client sets it by default.
 *  - Retry-After on a 429/503 sets the next delay instead (already capped): the strategy reads
 *    it from the error BullMQ hands it (the processor's InvokeError), for every custom type.
 *
 * BullMQ consults a custom strategy only for types that are not builtin. For a job whose
 * backoff is 'fixed' or 'exponential' there is no public way to change one retry's delay, so
 * the processor switches that job's in-memory opts.backoff to "invoke-retry-after" before
 * throwing (retryAfterForBuiltin). BullMQ computes the delay from that object in moveToFailed;
 * test/core/failures.redis.test.ts ("429 with Retry-After", an exponential job) fails if it
 * stops doing so. The client's and the API's jobs never take this path.
 */
import type { Job, MinimalJob } from 'bullmq';
import { isInvokeError } from '../contract/errors.js';

export const BACKOFF_TYPE = 'invoke';
export const RETRY_AFTER_TYPE = 'invoke-retry-after';

/** BullMQ's own strategies, chosen before any custom one (Backoffs.calculate). */
const BUILTIN: ReadonlySet<string> = new Set(['fixed', 'exponential']);

/** Exponential with equal jitter: half fixed, half random, so retries of a burst spread out. */
export function invokeBackoffDelay(
  attemptsMade: number,
  baseMs: number,
  capMs: number,
  random = Math.random,
): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attemptsMade - 1));
  return Math.floor(ceiling / 2 + random() * (ceiling / 2));
}

export function createBackoffStrategy(capMs: number) {
  return (
    attemptsMade: number,
    _type: string | undefined,
    err: Error | undefined,
    job: MinimalJob | undefined,
  ): number => {
    if (isInvokeError(err) && err.retryAfterMs !== undefined) return err.retryAfterMs;
    const base = (job?.opts.backoff as { delay?: number } | undefined)?.delay ?? 1000;
    return invokeBackoffDelay(attemptsMade, base, capMs);
  };
}

/**
 * For a job with a builtin backoff type only: makes BullMQ take `delayMs` for the retry this
 * failure starts (see the header for why, and the test that guards it). A job with a custom
 * type (ours) is left alone: the strategy reads the delay from the error.
 */
export function retryAfterForBuiltin(job: Pick<Job, 'opts'>, delayMs: number): void {
  const { backoff } = job.opts;
  const type = typeof backoff === 'number' ? 'fixed' : backoff?.type;
  if (type !== undefined && BUILTIN.has(type)) {
    job.opts.backoff = { type: RETRY_AFTER_TYPE, delay: delayMs };
  }
}
