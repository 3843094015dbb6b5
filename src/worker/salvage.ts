/**
 * For a job whose data fails the schema: if the parts that identify the step (ids, variable,
 * onFailure) are still valid, the failure can be saved and emitted so the customer's journey
 * moves on down its failure branch instead of waiting forever. Otherwise nothing is written.
 */
import type { InvokeJob } from '../contract/job.js';
import { z } from 'zod';
import { invokeJobSchema } from '../contract/job.js';

// z.object over the picked shape: the pick of a strictObject is strict too, and would reject
// every job for its other (possibly broken) keys, so nothing could ever be salvaged.
const identitySchema = z.object(invokeJobSchema.pick({ journeyId: true, runId: true, stepId: true, visit: true, customerId: true, save: true, onFailure: true }).shape);

export function salvageIdentity(data: unknown): InvokeJob | undefined {
  const parsed = identitySchema.safeParse(data);
  if (!parsed.success) return undefined;
  return { ...parsed.data, v: 1, data: {}, request: { method: 'GET', url: '', followRedirects: false } };
}
