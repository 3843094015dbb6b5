/**
 * Backoff types registered on the worker (BullMQ settings.backoffStrategy):
 *  - "invoke": exponential with equal jitter, capped (INVOKE_BACKOFF_MAX_MS). Producers use
 *    `backoff: { type: 'invoke', delay: 1000 }`; the client sets it by default.
 *  - "invoke-retry-after": set by the processor for one retry when the upstream sent
 *    Retry-After on 429/503; the delay comes from the error (already capped).
 * BullMQ consults a custom strategy only for non-builtin types, so for a job whose backoff is
 * 'exponential' or 'fixed' the processor switches the in-memory job.opts.backoff to
 * invoke-retry-after before throwing (worker/outcome.ts); BullMQ reads it from there in
 * moveToFailed.
 */
import type { MinimalJob } from 'bullmq';
import { isInvokeError } from '../contract/errors.js';

export const BACKOFF_TYPE = 'invoke';
export const RETRY_AFTER_TYPE = 'invoke-retry-after';

/** Exponential with equal jitter: half fixed, half random, so retries of a burst spread out. */
export function invokeBackoffDelay(attemptsMade: number, baseMs: number, capMs: number, random = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attemptsMade - 1));
  return Math.floor(ceiling / 2 + random() * (ceiling / 2));
}

export function createBackoffStrategy(capMs: number) {
  return (attemptsMade: number, type: string | undefined, err: Error | undefined, job: MinimalJob | undefined): number => {
    const base = (job?.opts.backoff as { delay?: number } | undefined)?.delay ?? 1000;
    if (type === RETRY_AFTER_TYPE) return isInvokeError(err) && err.retryAfterMs !== undefined ? err.retryAfterMs : base;
    return invokeBackoffDelay(attemptsMade, base, capMs);
  };
}
