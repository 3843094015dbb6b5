/** The continuation event appended to journey:continuations (contract section 3; fixed names). */
import { z } from 'zod';

export const EVENT_TYPES = ['invoke.completed', 'invoke.failed'] as const;

export const continuationEventSchema = z.strictObject({
  eventId: z.string(),
  type: z.enum(EVENT_TYPES),
  journeyId: z.string(),
  runId: z.string(),
  stepId: z.string(),
  visit: z.string(),
  customerId: z.string(),
  variable: z.string(),
  /** HTTP status, or '' when no response was received. */
  status: z.string(),
  /** Contract error code, or '' on success. */
  errorCode: z.string(),
  attempts: z.string(),
  jobId: z.string(),
  at: z.string(),
  /** Contract v1.1: the job's tenantId, or '' when it has none. */
  tenantId: z.string(),
});
/** Stream entries are flat string maps: numbers are written as decimal strings. */
export type ContinuationEvent = z.infer<typeof continuationEventSchema>;
