/**
 * The producers' HTTP API (contract section 1, way 2): the same zod schema and the same client
 * as TypeScript producers, so a job enqueued over HTTP and one enqueued in-process dedupe
 * against each other.
 *
 *   POST /v1/invocations        202 { jobId, deduplicated }
 *   POST /v1/invocations:batch  202 { results: [{ jobId, deduplicated }] }, up to 1,000 jobs
 *   GET  /v1/invocations/:jobId 200 status (state, attempts, last error code, saved envelope;
 *                               ?attempts=true: the per-attempt records)
 *   POST /v1/invocations/test   200 dry run { request (masked), envelope }; saves nothing
 *
 * Errors are { error: CODE, message, issues? }: 400 INVALID_JOB with one issue per bad path
 * ("request.url", "jobs[3].runId"), 400 INVALID_JSON with the line and column, 404 NOT_FOUND,
 * 415 UNSUPPORTED_MEDIA_TYPE naming application/json, 413 from fastify's body parsing,
 * 503 UNAVAILABLE when Redis does not answer in time.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { invokeJobSchema } from '../../contract/job.js';
import { envelopeSchema } from '../../contract/envelope.js';
import { InvalidJobError } from '../../contract/invalid-job.js';
import type { InvokeClient } from '../../client/create-invoke-client.js';
import { explainBodyError } from '../body-errors.js';
import { isJobId, notAJobId } from '../guards.js';
import { dryRunInputSchema, type DryRun } from '../../dry-run/dry-run.js';
import { authUseSchema } from '../../contract/credential.js';

export const MAX_BATCH = 1000;

const enqueued = z.object({
  jobId: z.string(),
  deduplicated: z.boolean(),
  note: z.string().optional(),
});

/** Said with every deduplicated answer: what a caller who expected a new run should do. */
export const DEDUP_NOTE =
  'a job with this idempotency key (runId, stepId, visit) already exists, so nothing new was enqueued and the step is not run again. To run it again, enqueue it with a new visit (or runId); to re-run a failed job, retry it (invoke-api retry <jobId>, or POST /v1/ops/retry)';
const withNote = (r: { jobId: string; deduplicated: boolean }) =>
  r.deduplicated ? { ...r, note: DEDUP_NOTE } : r;
const errorBody = z.object({
  error: z.string(),
  message: z.string(),
  issues: z.array(z.object({ path: z.string(), code: z.string(), message: z.string() })).optional(),
});
const statusBody = z.object({
  jobId: z.string(),
  state: z.string(),
  attempts: z.number(),
  maxAttempts: z.number(),
  lastErrorCode: z.string().nullable(),
  held: z.boolean(),
  envelope: envelopeSchema.nullable(),
  enqueuedAt: z.string(),
  finishedAt: z.string().nullable(),
  attemptRecords: z
    .array(z.looseObject({ kind: z.enum(['attempt', 'operator']), at: z.string() }))
    .optional(),
});
const shownRequest = z.object({
  method: z.string(),
  url: z.string(),
  headers: z.record(z.string(), z.string()),
  body: z.unknown(),
});
const errors = { 400: errorBody, 401: errorBody, 413: errorBody, 415: errorBody, 503: errorBody };

export interface InvocationDeps {
  client: Pick<InvokeClient, 'enqueue' | 'enqueueMany' | 'status'>;
  dryRun: Pick<DryRun, 'run'>;
  /** False while the producer connection is down (see connectionDown): 503 at once instead of queueing. */
  redisReady?: () => boolean;
  /** Longest wait for an answer (Redis hung, or a reconnect mid-request) before 503 (default 30000). */
  redisTimeoutMs?: number;
}

/**
 * ioredis states of a connection that has lost Redis and waits to retry. Not 'connecting': that
 * is also the first connect at start, when a request should wait (bounded) rather than fail.
 */
const DOWN = new Set(['reconnecting', 'close', 'end']);
export const connectionDown = (status: string) => DOWN.has(status);

export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
}

/**
 * Our connections wait through a Redis outage (commands are queued and replayed), which is
 * right for the worker but would hold an HTTP request open indefinitely: answer 503 instead,
 * at once when the connection is known to be down, else after a generous bound (the bound also
 * covers building a 1,000-job batch on a loaded CPU, so it is not short). An add that was
 * already queued still runs once Redis is back; a retry is safe (same key, same job).
 */
function bounded<T>(deps: InvocationDeps, run: () => Promise<T>): Promise<T> {
  if (deps.redisReady && !deps.redisReady())
    return Promise.reject(new RedisUnavailableError('Redis is unreachable'));
  const ms = deps.redisTimeoutMs ?? 30_000;
  const p = run();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new RedisUnavailableError(`Redis did not answer within ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Body validation that reports issues the way the client does (InvalidJobError, dotted paths). */
const zodValidator =
  ({ schema }: { schema: z.ZodType }) =>
  (data: unknown) => {
    const parsed = schema.safeParse(data);
    return parsed.success
      ? { value: parsed.data }
      : { error: InvalidJobError.fromZod(parsed.error) };
  };

function sendError(err: FastifyError | InvalidJobError, req: FastifyRequest, reply: FastifyReply) {
  if (err instanceof InvalidJobError)
    return reply.code(400).send({ error: err.code, message: err.message, issues: err.issues });
  if (err instanceof RedisUnavailableError)
    return reply
      .code(503)
      .header('retry-after', '5')
      .send({
        error: 'UNAVAILABLE',
        message: `${err.message}; retrying is safe (idempotency key)`,
      });
  const explained = explainBodyError(err as FastifyError, req);
  if (explained)
    return reply
      .code(explained.statusCode)
      .send({ error: explained.code, message: explained.message });
  const status = err.statusCode ?? 500;
  // 4xx from fastify (413 body too large, 415 media type, 400 malformed JSON) are safe to show.
  if (status < 500)
    return reply.code(status).send({ error: err.code ?? 'BAD_REQUEST', message: err.message });
  reply.log.error({ err: { name: err.name, code: err.code } }, 'invocations API error');
  return reply.code(500).send({
    error: 'INTERNAL',
    message: 'internal error; the request is safe to retry (idempotency key)',
  });
}

export function invocationRoutes(deps: InvocationDeps) {
  return async (app: FastifyInstance) => {
    app.setValidatorCompiler(zodValidator);
    app.setErrorHandler(sendError);
    // JSON only: a text/plain body is 415, not a confusing schema error.
    app.removeContentTypeParser('text/plain');

    app.post(
      '/v1/invocations',
      {
        schema: {
          summary: 'Enqueue one invocation',
          body: invokeJobSchema,
          response: { 202: enqueued, ...errors },
        },
      },
      async (req, reply) =>
        reply.code(202).send(withNote(await bounded(deps, () => deps.client.enqueue(req.body)))),
    );

    // find-my-way reads ":" as a parameter; "::" is a literal colon (Google AIP-136 custom method).
    app.post(
      '/v1/invocations::batch',
      {
        schema: {
          summary: `Enqueue up to ${MAX_BATCH} invocations in one round trip`,
          body: z.strictObject({ jobs: z.array(invokeJobSchema).min(1).max(MAX_BATCH) }),
          response: { 202: z.object({ results: z.array(enqueued) }), ...errors },
        },
        // A bare array is the likeliest first try: say what the body looks like.
        preValidation: async (req) => {
          if (Array.isArray(req.body))
            throw new InvalidJobError([
              {
                path: '(root)',
                code: 'invalid_type',
                message:
                  'the batch body is an object {"jobs": [...]}, not a bare array: wrap the array as {"jobs": [ ... ]}',
              },
            ]);
        },
      },
      async (req, reply) => {
        const { jobs } = req.body as { jobs: unknown[] };
        return reply.code(202).send({
          results: (await bounded(deps, () => deps.client.enqueueMany(jobs))).map(withNote),
        });
      },
    );

    app.get(
      '/v1/invocations/:jobId',
      {
        schema: {
          summary:
            'State, attempts, last error code and the saved envelope of one invocation; ?attempts=true adds the per-attempt records',
          params: z.object({ jobId: z.string().min(1) }),
          querystring: z.object({ attempts: z.enum(['true', 'false']).optional() }),
          response: { 200: statusBody, 404: errorBody, 401: errorBody, 503: errorBody },
        },
      },
      async (req, reply) => {
        const { jobId } = req.params as { jobId: string };
        if (!isJobId(jobId)) return reply.code(404).send(notAJobId('jobId', jobId));
        const { attempts } = req.query as { attempts?: string };
        const status = await bounded(deps, () =>
          deps.client.status(jobId, { attempts: attempts === 'true' }),
        );
        if (!status)
          return reply.code(404).send({
            error: 'NOT_FOUND',
            message: `jobId: no invocation ${jobId} (never enqueued, or removed after retention)`,
          });
        return status;
      },
    );

    app.post(
      '/v1/invocations/test',
      {
        schema: {
          summary:
            'Dry run: render and send now, return the masked request and the envelope; saves and emits nothing',
          body: dryRunInputSchema,
          response: {
            200: z.object({
              request: shownRequest.nullable(),
              auth: authUseSchema.nullable().optional(),
              envelope: envelopeSchema,
            }),
            ...errors,
          },
        },
      },
      async (req) => {
        // A dry run reads Redis (the host's breaker and pause; the run's context when a template
        // needs it): while the connection is down, 503 at once rather than a request held open.
        // Its HTTP call is not bounded here: a slow partner may rightly take its whole timeout.
        if (deps.redisReady && !deps.redisReady())
          throw new RedisUnavailableError('Redis is unreachable');
        return deps.dryRun.run(req.body);
      },
    );
  };
}
