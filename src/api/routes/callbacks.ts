/**
 * POST /v1/callbacks/{token} (contract v1.1 section 6.5): where partners complete a waiting
 * step. Public by design: no Bearer token (the token in the path is the capability; auth.ts
 * lets this path through), so the route has its own defences:
 *   - a per-address rate limit (@fastify/rate-limit, checked before the body is read);
 *   - its own body limit (INVOKE_CALLBACK_BODY_LIMIT_BYTES) and JSON only (415 otherwise);
 *   - fixed answers that never echo the token, the job, the body or an internal error.
 * Answers: 202 first callback, 200 repeat (no second event), 404 unknown or forged token,
 * 410 too late (timed out, discarded, superseded by an operator's retry), 503 Redis down.
 * With a replica barrier (INVOKE_CALLBACK_MIN_REPLICAS), 202 and 200 wait until replicas hold
 * the completion; when they do not in time, 503: the completion stays on the master and the
 * partner's retry answers 200 once it is replicated. 404 and 410 promise nothing to keep.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import type { Config } from '../../config.js';
import type { CallbackResult, Callbacks } from '../../callbacks/service.js';
import type { ReplicaBarrier } from '../../callbacks/replica-barrier.js';

export const CALLBACK_PATH = '/v1/callbacks/';
/** Longest answer wait while Redis is unreachable before 503 (the partner retries). */
const REDIS_WAIT_MS = 10_000;

const ANSWERS: Record<
  CallbackResult,
  [number, { status?: string; error?: string; message: string }]
> = {
  first: [202, { status: 'accepted', message: 'callback accepted' }],
  repeat: [
    200,
    { status: 'already-accepted', message: 'this callback was already accepted; nothing changed' },
  ],
  unknown: [404, { error: 'NOT_FOUND', message: 'unknown callback token' }],
  gone: [
    410,
    {
      error: 'GONE',
      message: 'this step no longer accepts a callback (timed out, discarded or superseded)',
    },
  ],
};

const FIXED_ERRORS: Record<number, { error: string; message: string }> = {
  400: { error: 'BAD_REQUEST', message: 'the body must be valid JSON' },
  413: { error: 'TOO_LARGE', message: 'the body is over the callback size limit' },
  415: { error: 'UNSUPPORTED_MEDIA_TYPE', message: 'send Content-Type: application/json' },
  429: { error: 'RATE_LIMITED', message: 'too many callbacks from this address; retry later' },
};

class Unavailable extends Error {}
class NotReplicated extends Error {}

export function callbackRoutes(
  callbacks: Pick<Callbacks, 'complete'>,
  cfg: Pick<Config, 'INVOKE_CALLBACK_BODY_LIMIT_BYTES' | 'INVOKE_CALLBACK_RATE_PER_MINUTE'>,
  barrier?: Pick<ReplicaBarrier, 'confirm'>,
) {
  return async (app: FastifyInstance) => {
    // JSON only (fastify's application/json parser, with its prototype-poisoning check).
    app.removeContentTypeParser('text/plain');
    await app.register(rateLimit, {
      max: cfg.INVOKE_CALLBACK_RATE_PER_MINUTE,
      timeWindow: 60_000,
      errorResponseBuilder: (_req, ctx) =>
        Object.assign(new Error('rate limited'), { statusCode: ctx.statusCode }),
    });
    app.setErrorHandler((err: FastifyError, _req, reply) => {
      if (err instanceof Unavailable)
        return reply
          .code(503)
          .header('retry-after', '5')
          .send({ error: 'UNAVAILABLE', message: 'try again shortly' });
      if (err instanceof NotReplicated)
        return reply
          .code(503)
          .header('retry-after', '5')
          .send({ error: 'UNAVAILABLE', message: 'not yet replicated; try again shortly' });
      const status = err.statusCode ?? 500;
      const fixed = FIXED_ERRORS[status] ?? (status < 500 ? FIXED_ERRORS[400]! : undefined);
      if (fixed) return reply.code(FIXED_ERRORS[status] ? status : 400).send(fixed);
      reply.log.error({ err: { name: err.name } }, 'callback route error');
      return reply
        .code(500)
        .send({ error: 'INTERNAL', message: 'internal error; retrying is safe' });
    });

    app.post(
      `${CALLBACK_PATH}:token`,
      { bodyLimit: cfg.INVOKE_CALLBACK_BODY_LIMIT_BYTES },
      async (req, reply) => {
        const { token } = req.params as { token: string };
        const result = await bounded(callbacks.complete(token, req.body ?? null));
        if (barrier && (result === 'first' || result === 'repeat') && !(await barrier.confirm()))
          throw new NotReplicated();
        const [status, body] = ANSWERS[result];
        return reply.code(status).send(body);
      },
    );
  };
}

/** Our Redis connections wait through an outage; a partner gets 503 instead of a hung request. */
async function bounded<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Unavailable()), REDIS_WAIT_MS);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}
