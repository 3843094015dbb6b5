/**
 * The only bridge from our codes to BullMQ's errors: UnrecoverableError for anything not worth
 * another attempt (never burns retries), a plain (sanitised) error for transient failures so
 * BullMQ retries with the job's backoff, Retry-After switching the backoff for that one retry.
 */
import { type Job, UnrecoverableError } from 'bullmq';
import type { InvokeError } from '../contract/errors.js';
import { RETRY_AFTER_TYPE } from '../queue/backoff.js';
import { recordFacts } from '../queue/failure-facts.js';

/**
 * The error to throw so BullMQ retries (transient) or fails at once (permanent / final). Its
 * stack, which BullMQ stores, carries the failure's facts (queue/failure-facts.ts).
 */
export function toBullError(job: Job, error: InvokeError, final: boolean, host: string): Error {
  const facts = { code: error.code, status: error.status, host };
  if (final || !error.retryable) return recordFacts(new UnrecoverableError(error.message), facts);
  if (error.retryAfterMs !== undefined) {
    job.opts.backoff = { type: RETRY_AFTER_TYPE, delay: error.retryAfterMs };
  }
  return recordFacts(error, facts);
}
