/**
 * The job data a producer enqueues (contract section 1). Field names are fixed.
 * The same schema validates the client's input, the HTTP API body and the worker's job, and
 * schema/invoke-job.schema.json is generated from it.
 */
import { z } from 'zod';
import { conditionProblem } from '../outcome-rules/condition.js';

export const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'] as const;
/** RFC 9110 token: what a header name may be. Also rules out CR, LF and NUL. */
const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/, 'must be an HTTP header name (RFC 9110 token)');
// Well-formed UTF-16 only: a lone surrogate cannot be percent-encoded into a jobId.
const id = (what: string) =>
  z
    .string()
    .min(1, `${what} must not be empty`)
    .max(200)
    .refine(
      (s) => (s as string & { isWellFormed(): boolean }).isWellFormed(),
      'must be well-formed Unicode (no lone surrogates)',
    );

/** Tenant ids (contract v1.1 section 6.1). */
export const TENANT_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** Names of tenant secrets and credentials (contract v1.1 sections 6.1, 6.2). */
export const SECRET_NAME = /^[A-Z][A-Z0-9_]{0,63}$/;
export const MAX_WAIT_MS = 30 * 24 * 3600 * 1000;
const secretName = (what: string) =>
  z.string().regex(SECRET_NAME, `${what} must match ^[A-Z][A-Z0-9_]{0,63}$`);
// Parsed here, so a syntax error is INVALID_JOB naming expect.success (or a credential's
// tokenExpired is refused when it is saved) before any call.
export const conditionSchema = z
  .string()
  .min(1)
  .max(2048)
  .superRefine((source, ctx) => {
    const why = conditionProblem(source);
    if (why !== undefined)
      ctx.addIssue({ code: 'custom', message: `not a Liquid condition: ${why}` });
  });

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
  /** Contract v1.1 section 6.2: a partner credential applied to the request. */
  auth: z.strictObject({ credential: secretName('request.auth.credential') }).optional(),
});

/** Contract v1.1 section 6.3: Liquid conditions over response.status, headers and body. */
export const expectSchema = z.strictObject({
  success: conditionSchema.optional(),
  retry: conditionSchema.optional(),
});

/** Contract v1.1 section 6.4: results kept under tenant + journeyId + stepId + rendered key. */
export const cacheSchema = z.strictObject({
  // A key is hashed into a Redis key name and must be the same for every job that shares the
  // answer: a secret (rendered as a per-render reference) can be neither (docs/outcomes.md).
  key: z
    .string()
    .min(1)
    .max(1024)
    .refine(
      (k) => !/\bsecrets\b/.test(k),
      'must not read secrets: key the cache by what the answer depends on',
    ),
  ttlSeconds: z.number().int().min(1).max(86_400),
  /** Cache the answers of requests that carried a secret too (off by default: docs/cache.md). */
  withSecrets: z.boolean().default(false),
});

/** Contract v1.1 section 6.5: after a successful call, wait for the partner's callback. */
export const waitSchema = z.strictObject({
  callback: z.literal(true),
  timeoutMs: z.number().int().min(1000).max(MAX_WAIT_MS),
});

export const saveSchema = z.strictObject({
  variable: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'must match ^[A-Za-z_][A-Za-z0-9_]{0,63}$'),
  pick: z
    .record(
      z.string().min(1).max(64),
      z
        .string()
        .regex(
          /^(status|headers|body)(\.[^.]+)*$/,
          'must be a path starting with status, headers or body',
        ),
    )
    .optional(),
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
  /** Contract v1.1: absent means the single-tenant deployment of v1. */
  tenantId: z.string().regex(TENANT_ID, 'must match ^[A-Za-z0-9._-]{1,64}$').optional(),
  expect: expectSchema.optional(),
  cache: cacheSchema.optional(),
  wait: waitSchema.optional(),
});

/** What a producer writes (defaults may be left out). */
export type InvokeJobInput = z.input<typeof invokeJobSchema>;
/** What the worker reads, defaults applied. */
export type InvokeJob = z.output<typeof invokeJobSchema>;
export type InvokeRequest = InvokeJob['request'];

/** "request.method: Invalid option ..." — every issue, each naming its path. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}
