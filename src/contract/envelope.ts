/** The result envelope saved in the journey context store (contract section 2; fixed names). */
import { z } from 'zod';
import { ERROR_CODES } from './errors.js';

export const envelopeSchema = z.strictObject({
  ok: z.boolean(),
  status: z.number().int().nullable(),
  body: z.unknown(),
  truncated: z.boolean(),
  headers: z.record(z.string(), z.string()),
  error: z
    .strictObject({ code: z.enum(ERROR_CODES), message: z.string(), retryable: z.boolean() })
    .nullable(),
  attempts: z.number().int().min(0),
  durationMs: z.number().min(0),
  at: z.string(),
  eventId: z.string(),
  /** Contract v1.1 section 6.4: true when the result came from the step's response cache. */
  cached: z.boolean().optional(),
  /** Contract v1.1 section 6.5: set when the partner's callback completed the step. */
  callback: z.strictObject({ at: z.string() }).optional(),
});
export type Envelope = z.infer<typeof envelopeSchema>;
