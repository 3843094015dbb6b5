/**
 * The facts of a failed attempt that operators filter and group on (ops/failure.ts): our error
 * code, the HTTP status and the host called. BullMQ keeps two things of a thrown error: its
 * message (failedReason, `CODE: detail`, for people) and its stack (job.stacktrace, one entry
 * per failed attempt, in the job hash). Our errors' stacks carry no frames (BullMQ stores them
 * in Redis), so the stack of the error the processor throws is its first line, then the facts
 * as one JSON line: written and read only here, stored with the failure they describe, with no
 * write of their own, and nothing is read back out of the message.
 */
import type { Job } from 'bullmq';
import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from '../contract/errors.js';

export interface FailureFacts {
  code: ErrorCode;
  status: number | null;
  /** Scrubbed; '' when the attempt had no URL (bad data, a template that did not render). */
  host: string;
}

/** Starts the facts line, indented like a stack frame so stack viewers show it as one. */
const MARK = '\n    invoke-failure ';

const factsSchema = z.object({
  code: z.enum(ERROR_CODES),
  status: z.number().int().nullable(),
  host: z.string(),
});

/** Sets the stack BullMQ will store for this failure: the error's first line, then the facts. */
export function recordFacts<E extends Error>(err: E, facts: FailureFacts): E {
  err.stack = `${err.name}: ${err.message}${MARK}${JSON.stringify(facts)}`;
  return err;
}

/**
 * The facts of the job's last failed attempt; undefined when that failure was not one of ours
 * (an internal error, a stall) or the job never failed.
 */
export function failureFactsOf(
  job: Pick<Job, 'stacktrace' | 'progress'>,
): FailureFacts | undefined {
  const last = job.stacktrace?.[job.stacktrace.length - 1];
  const at = last?.indexOf(MARK) ?? -1;
  if (last !== undefined && at >= 0) return valid(() => JSON.parse(last.slice(at + MARK.length)));
  // A job failed by an earlier worker (CHANGELOG): the same facts, as the job's progress
  // (this worker never sets one).
  return valid(() => job.progress);
}

function valid(read: () => unknown): FailureFacts | undefined {
  try {
    const parsed = factsSchema.safeParse(read());
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
