/**
 * The job data a producer enqueues (contract section 1). Field names are fixed.
 * The same schema validates the client's input, the HTTP API body and the worker's job, and
 * schema/invoke-job.schema.json is generated from it.
 */
import { z } from 'zod';

export const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'] as const;
/** RFC 9110 token: what a header name may be. Also rules out CR, LF and NUL. */
const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/, 'must be an HTTP header name (RFC 9110 token)');
// Well-formed UTF-16 only: a lone surrogate cannot be percent-encoded into a jobId.
const id = (what: string) => z.string().min(1, `${what} must not be empty`).max(200).refine((s) => (s as string & { isWellFormed(): boolean }).isWellFormed(), 'must be well-formed Unicode (no lone surrogates)');

export const requestSchema = z.strictObject({
  method: z.enum(METHODS).default('GET'),
  url: z.string().min(1).max(8192),
  query: z.record(z.string().max(1024), z.string().max(8192)).optional(),
  headers: z.record(headerName, z.string().max(8192)).optional(),
  body: z.unknown().optional(),
  bodyType: z.enum(['json', 'form', 'text']).optional(),
  timeoutMs: z.number().int().min(100).max(60000).optional(),
  idempotencyHeader: headerName.optional(),
  followRedirects: z.boolean().default(false),
});

export const saveSchema = z.strictObject({
  variable: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'must match ^[A-Za-z_][A-Za-z0-9_]{0,63}$'),
  pick: z.record(z.string().min(1).max(64), z.string().regex(/^(status|headers|body)(\.[^.]+)*$/, 'must be a path starting with status, headers or body')).optional(),
});

export const invokeJobSchema = z.strictObject({
  v: z.literal(1),
  journeyId: id('journeyId'),
  runId: id('runId'),
  stepId: id('stepId'),
  visit: z.number().int().min(1).default(1),
  customerId: id('customerId'),
  request: requestSchema,
  deadlineMs: z.number().int().min(1).optional(),
  data: z.record(z.string(), z.unknown()).default({}),
  save: saveSchema,
  onFailure: z.enum(['continue', 'hold']).default('continue'),
});

/** What a producer writes (defaults may be left out). */
export type InvokeJobInput = z.input<typeof invokeJobSchema>;
/** What the worker reads, defaults applied. */
export type InvokeJob = z.output<typeof invokeJobSchema>;
export type InvokeRequest = InvokeJob['request'];

/** "request.method: Invalid option ..." — every issue, each naming its path. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
}
