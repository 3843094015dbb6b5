/**
 * For a job whose data fails the schema: when journeyId, runId and stepId can be read, the
 * failure is emitted (and saved, when `save` is usable) so the customer's journey moves on down
 * its failure branch instead of waiting forever. Each other identifying field is taken when
 * valid and defaulted otherwise: visit 1, customerId '', onFailure 'continue', and an empty
 * save.variable, which tells the writer to skip the context write (no valid name to save
 * under). Without the three ids nothing can be addressed, and nothing is written.
 */
import type { InvokeJob } from './job.js';
import { z } from 'zod';
import { invokeJobSchema } from './job.js';

const ids = z.looseObject(
  invokeJobSchema.pick({ journeyId: true, runId: true, stepId: true }).shape,
);
const field = <K extends keyof typeof invokeJobSchema.shape>(key: K) => invokeJobSchema.shape[key];

function valid<T>(schema: z.ZodType<T>, value: unknown, fallback: T): T {
  const r = schema.safeParse(value);
  return r.success ? r.data : fallback;
}

export function salvageIdentity(data: unknown): InvokeJob | undefined {
  const parsed = ids.safeParse(data);
  if (!parsed.success) return undefined;
  const raw = parsed.data as Record<string, unknown>;
  const { journeyId, runId, stepId } = parsed.data;
  return {
    journeyId,
    runId,
    stepId,
    visit: valid(field('visit'), raw.visit, 1),
    customerId: valid(field('customerId'), raw.customerId, ''),
    save: valid(field('save'), raw.save, { variable: '' }),
    onFailure: valid(field('onFailure'), raw.onFailure, 'continue'),
    ...(valid(field('tenantId'), raw.tenantId, undefined) !== undefined
      ? { tenantId: raw.tenantId as string }
      : {}),
    v: 1,
    data: {},
    request: { method: 'GET', url: '', followRedirects: false },
  } as InvokeJob;
}
