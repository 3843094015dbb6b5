/**
 * /v1/ops/*: the operator API over HTTP, a thin surface over ops/ (the CLI is the other one).
 * Reads are bounded like every ops read; actions take explicit ids or the same filters as
 * `invoke-api failed`. A `tenant` scopes a call to that tenant's jobs: another tenant's job id
 * answers 404 like an unknown one (ops/tenant-scope.ts).
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  GROUP_KEYS,
  OpsError,
  type OpsErrorKind,
  parseDuration,
  RetryRefusedError,
  type Ops,
} from '../../ops/index.js';
import { InvalidJobError } from '../../contract/invalid-job.js';
import { toFilter } from '../../ops/failure.js';
import { TENANT_ID } from '../../contract/job.js';
import { isJobId, notAJobId } from '../guards.js';

const filterSchema = z.object({
  since: z.string().optional(),
  host: z.string().optional(),
  code: z.string().optional(),
  status: z.coerce.number().int().min(100).max(599).optional(),
  journey: z.string().optional(),
  tenant: z.string().optional(),
  held: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]).optional(),
});
/** The caller's tenant scope (ops/tenant-scope.ts): only that tenant's jobs, '-' = jobs without one. */
const tenantField = z
  .string()
  .refine(
    (t) => t === '-' || TENANT_ID.test(t),
    'must be a tenant id (^[A-Za-z0-9._-]{1,64}$) or -',
  )
  .optional();
const targetSchema = z
  .object({
    ids: z
      .array(
        z.string().min(1).refine(isJobId, 'must be an invocation id (ik.<runId>.<stepId>.<visit>)'),
      )
      .max(10_000)
      .optional(),
    filter: filterSchema.optional(),
    tenant: tenantField,
    dryRun: z.boolean().default(false),
  })
  .refine((b) => (b.ids === undefined) !== (b.filter === undefined), {
    message: 'give either ids or filter',
    path: ['ids'],
  })
  .refine(
    (b) => b.tenant === undefined || b.filter?.tenant === undefined || b.filter.tenant === b.tenant,
    { message: 'differs from tenant (give one)', path: ['filter', 'tenant'] },
  );

/** How each kind of refusal answers (ops/errors.ts). */
const ANSWER: Record<OpsErrorKind, { status: number; error: string }> = {
  'bad-input': { status: 400, error: 'bad request' },
  'not-found': { status: 404, error: 'not found' },
  conflict: { status: 409, error: 'conflict' },
};

/** A bad duration or status is the caller's mistake: 400 naming the field. */
function target(body: z.infer<typeof targetSchema>) {
  if (body.ids) return { ids: body.ids, tenant: body.tenant };
  return {
    filter: toFilter({
      ...body.filter,
      ...(body.tenant !== undefined ? { tenant: body.tenant } : {}),
    }),
  };
}

export function opsRoutes(ops: Ops) {
  return async (root: FastifyInstance) => {
    const app = root.withTypeProvider<ZodTypeProvider>();
    app.setErrorHandler(
      (err: Error & { statusCode?: number; validation?: unknown }, _req, reply) => {
        // A refusal answers by its kind. Another tenant's job is not-found like an unknown one:
        // 404, nothing done (never 403).
        if (err instanceof OpsError) {
          const { status, error } = ANSWER[err.kind];
          return reply.code(status).send({ error, message: err.message });
        }
        const code = err.validation ? 400 : (err.statusCode ?? 500);
        // A 5xx is Redis or a bug: its text (a raw Redis reply, a stack) is logged, never answered.
        if (code >= 500) {
          reply.log.error(
            { err: { name: err.name, code: (err as { code?: string }).code } },
            'ops API error',
          );
          return reply
            .code(code)
            .send({ error: 'error', message: 'internal error (see the service log)' });
        }
        return reply
          .code(code)
          .send({ error: code === 400 ? 'bad request' : 'error', message: err.message });
      },
    );
    app.get(
      '/v1/ops/status',
      {
        schema: {
          querystring: z.object({ minutes: z.coerce.number().int().min(1).max(1440).default(15) }),
        },
      },
      (req) => ops.status(req.query.minutes),
    );
    app.get(
      '/v1/ops/tenants',
      {
        schema: {
          querystring: z.object({ limit: z.coerce.number().int().min(1).max(10_000).default(50) }),
        },
      },
      (req) => ops.byTenant(req.query.limit),
    );
    app.get(
      '/v1/ops/failed',
      {
        schema: {
          querystring: filterSchema.extend({
            groupBy: z.enum(GROUP_KEYS).optional(),
            limit: z.coerce.number().int().min(1).max(1000).default(50),
          }),
        },
      },
      (req) => {
        const { groupBy, limit, ...f } = req.query;
        return groupBy ? ops.groupFailed(toFilter(f), groupBy) : ops.failed(toFilter(f), limit);
      },
    );
    app.get(
      '/v1/ops/jobs/:id',
      {
        schema: {
          params: z.object({ id: z.string().min(1) }),
          querystring: z.object({ tenant: tenantField }),
        },
      },
      async (req, reply) => {
        if (!isJobId(req.params.id)) return reply.code(404).send(notAJobId('id', req.params.id));
        const found = await ops.inspect(req.params.id, req.query.tenant);
        return (
          found ??
          reply.code(404).send({ error: 'not found', message: `id: no job ${req.params.id}` })
        );
      },
    );
    app.post('/v1/ops/retry', { schema: { body: targetSchema } }, (req) =>
      ops.retry(target(req.body), { dryRun: req.body.dryRun }),
    );
    app.post('/v1/ops/discard', { schema: { body: targetSchema } }, (req) =>
      ops.discard(target(req.body), { dryRun: req.body.dryRun }),
    );
    // Redo with changes: one failed or held job, corrected data, same idempotency key, on record.
    app.post(
      '/v1/ops/jobs/:id/retry',
      {
        schema: {
          params: z.object({ id: z.string().min(1) }),
          body: z.object({
            data: z.unknown(),
            by: z.string().min(1).max(200).default('api'),
            tenant: tenantField,
            dryRun: z.boolean().default(false),
          }),
        },
      },
      async (req, reply) => {
        try {
          return await ops.retryWithData(req.params.id, req.body.data, {
            by: req.body.by,
            dryRun: req.body.dryRun,
            tenant: req.body.tenant,
          });
        } catch (err) {
          if (err instanceof InvalidJobError)
            return reply
              .code(400)
              .send({ error: err.code, message: err.message, issues: err.issues });
          if (err instanceof RetryRefusedError)
            return reply
              .code(ANSWER[err.kind].status)
              .send({ error: err.reason, message: err.message });
          throw err;
        }
      },
    );
    // Steps waiting for a partner's callback (ops/waiting.ts).
    const stepIds = z.object({ ids: z.array(z.string().min(1)).min(1).max(1000) });
    app.get(
      '/v1/ops/waiting',
      {
        schema: {
          querystring: z.object({
            limit: z.coerce.number().int().min(1).max(1000).default(50),
            offset: z.coerce.number().int().min(0).default(0),
          }),
        },
      },
      (req) => ops.waiting.list(req.query.limit, req.query.offset),
    );
    app.post(
      '/v1/ops/waiting/complete',
      { schema: { body: stepIds.extend({ body: z.unknown() }) } },
      (req) => ops.waiting.complete(req.body.ids, req.body.body ?? null),
    );
    app.post('/v1/ops/waiting/retry', { schema: { body: stepIds } }, (req) =>
      ops.waiting.retry(req.body.ids),
    );
    app.post('/v1/ops/waiting/discard', { schema: { body: stepIds } }, (req) =>
      ops.waiting.discard(req.body.ids),
    );
    app.post('/v1/ops/pause', async () => {
      await ops.pause();
      return { paused: true };
    });
    app.post('/v1/ops/resume', async () => {
      await ops.resume();
      return { paused: false };
    });
    app.post(
      '/v1/ops/cache/clear',
      {
        schema: {
          body: z.strictObject({
            journeyId: z.string().min(1).max(200),
            stepId: z.string().min(1).max(200),
            tenantId: z.string().regex(TENANT_ID).optional(),
          }),
        },
      },
      (req) => ops.clearCache(req.body),
    );
    app.post(
      '/v1/ops/clean',
      {
        schema: {
          body: z.object({ state: z.enum(['completed', 'failed']), olderThan: z.string() }),
        },
      },
      async (req) => {
        return {
          state: req.body.state,
          removed: await ops.clean(req.body.state, parseDuration(req.body.olderThan, 'olderThan')),
        };
      },
    );
  };
}
