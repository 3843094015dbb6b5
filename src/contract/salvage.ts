/**
 * For a job whose data fails the schema: if the parts that identify the step (ids, variable,
 * onFailure) are still valid, the failure can be saved and emitted so the customer's journey
 * moves on down its failure branch instead of waiting forever. Otherwise nothing is written.
 */
import type { InvokeJob } from './job.js';
import { z } from 'zod';
import { invokeJobSchema } from './job.js';

// Loose: the rest of the data is what failed, and is ignored here.
const identitySchema = z.looseObject(invokeJobSchema.pick({ journeyId: true, runId: true, stepId: true, visit: true, customerId: true, save: true, onFailure: true }).shape);

export function salvageIdentity(data: unknown): InvokeJob | undefined {
  const parsed = identitySchema.safeParse(data);
  if (!parsed.success) return undefined;
  const { journeyId, runId, stepId, visit, customerId, save, onFailure } = parsed.data;
  return { journeyId, runId, stepId, visit, customerId, save, onFailure, v: 1, data: {}, request: { method: 'GET', url: '', followRedirects: false } };
}
