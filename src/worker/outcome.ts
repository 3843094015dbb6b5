/**
 * The only bridge from our codes to BullMQ's errors: UnrecoverableError for anything not worth
 * another attempt (never burns retries), a plain (sanitised) error for transient failures so
 * BullMQ retries with the job's backoff, Retry-After switching the backoff for that one retry.
 */
import { type Job, UnrecoverableError } from 'bullmq';
import type { InvokeError } from '../contract/errors.js';
import { RETRY_AFTER_TYPE } from '../queue/backoff.js';

/** The error to throw so BullMQ retries (transient) or fails at once (permanent / final). */
export function toBullError(job: Job, error: InvokeError, final: boolean): Error {
  if (final || !error.retryable) {
    const e = new UnrecoverableError(error.message);
    e.stack = `UnrecoverableError: ${error.message}`;
    return e;
  }
  if (error.retryAfterMs !== undefined) {
    job.opts.backoff = { type: RETRY_AFTER_TYPE, delay: error.retryAfterMs };
  }
  return error;
}
