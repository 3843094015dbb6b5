/**
 * One attempt at a step's call, the same for the worker and the dry run:
 *
 *   1. validate  the job data with the contract schema (bad data: INVALID_JOB, never retried)
 *   2. expire    when deadlineMs has passed since enqueue (EXPIRED)
 *   3. render    the request with data, context and secrets (TEMPLATE_ERROR); `callback.*` for a
 *                step with `wait`, the cache key for a step with `cache`
 *   4. cache     a step with `cache` takes the kept result instead of calling (cache/)
 *   5. limits    what must hold before a call (the worker: tenant and destination limits; the
 *                dry run: no open breaker, no Retry-After pause)
 *   6. call      the partner (http/), through the auth stage when the step sets request.auth
 *   7. classify  the response or our error into an outcome (classify.ts), secrets scrubbed
 *
 * Each stage's I/O is passed in (createAttemptPipeline), so the story runs without Redis or a
 * partner (test/attempt/pipeline.test.ts). What comes after is the surface's own: the worker
 * saves and emits or retries, the dry run masks and answers. A step every attempt takes is one
 * stage here, for both.
 */
import type dns from 'node:dns';
import type { AuthStage, AuthUse } from '../auth/stage.js';
import type { ResponseCache } from '../cache/response-cache.js';
import type { Secret } from '../config.js';
import { InvokeError, isInvokeError } from '../contract/errors.js';
import { describeIssues, type InvokeJob, invokeJobSchema } from '../contract/job.js';
import type { HttpClient, HttpResult, SendOptions } from '../http/call.js';
import type { Renderer, RenderedRequest } from '../template/render.js';
import { buildScope, needsContext } from '../template/scope.js';
import type { Scrubber } from '../template/secrets.js';
import { checkBroken, type SecretsView } from '../tenants/resolver.js';
import { cachedCall } from './cached-call.js';
import { fromError, fromResponse, type Outcome, type OutcomeLimits } from './classify.js';

/** The rendered request with what the call needs of the render. */
export type AttemptRequest = RenderedRequest & {
  usedSecrets: Set<string>;
  cacheKey: string | undefined;
};

/** One attempt: what the surface gives the stages, and what they fill in as they go. */
export interface Attempt {
  job: InvokeJob;
  /** A tenant job's secrets (contract 6.1); undefined: the platform secrets. */
  view: SecretsView | undefined;
  /** When the job was enqueued (deadlineMs counts from it); undefined: nothing expires. */
  enqueuedAt: number | undefined;
  /** 1-based. */
  number: number;
  /** Filled by render: the request as rendered (secrets still references) and its URL. */
  request: AttemptRequest | undefined;
  url: URL | undefined;
  /** Filled by call: the partner's answer. */
  response: HttpResult | undefined;
  /** Filled by render for a job with a view: the scrubber of its secrets. */
  scrub: Scrubber | undefined;
  /** Filled by the auth stage as soon as the credential is resolved. */
  auth: AuthUse | undefined;
}

/** The I/O of the stages; `A` is the surface's attempt, handed back to each function. */
export interface AttemptIO<A extends Attempt> {
  renderer: Pick<Renderer, 'renderRequest' | 'renderString' | 'ready'>;
  http: Pick<HttpClient, 'send'>;
  limits: OutcomeLimits;
  /** The platform secrets, for a job without a view. */
  secrets: ReadonlyMap<string, Secret>;
  /** Scrubs the platform secrets from error details (a view brings its own). */
  scrub: (text: string) => string;
  /** The run's saved variables; called only when a template mentions `context`. */
  readContext(a: A, job: InvokeJob): Promise<Record<string, unknown>>;
  /** `callback.*` for a step with `wait` (contract 6.5). */
  callbackScope(a: A, job: InvokeJob): Promise<CallbackScope> | CallbackScope;
  /** The value of the step's idempotency header. */
  idempotencyValue(a: A, job: InvokeJob): string;
  /**
   * Before the call (not for a cache hit): resolves to the release of what it holds for the
   * call. An InvokeError fails the attempt; anything else (BullMQ's DelayedError) propagates.
   */
  beforeCall?: ((a: A, url: URL) => Promise<(() => void) | undefined>) | undefined;
  /** Applies request.auth; without it such steps are sent as they are. */
  auth?: Pick<AuthStage, 'send'> | undefined;
  /** The step response cache; without it `cache` is not acted on. */
  cache?: ResponseCache | undefined;
  /** DNS override (tests). */
  dnsLookup?: typeof dns.lookup | undefined;
}

export interface CallbackScope {
  token: string;
  url?: string;
}

/** 1. validate: the job, or INVALID_JOB naming each path (returned, not thrown: no stack). */
export function validate(data: unknown): InvokeJob | InvokeError {
  const parsed = invokeJobSchema.safeParse(data);
  return parsed.success
    ? parsed.data
    : new InvokeError('INVALID_JOB', describeIssues(parsed.error));
}

/** 2. expire: EXPIRED once deadlineMs has passed since enqueue. */
export function expire(a: Attempt): InvokeError | undefined {
  const { deadlineMs } = a.job;
  if (deadlineMs === undefined || a.enqueuedAt === undefined) return undefined;
  if (Date.now() <= a.enqueuedAt + deadlineMs) return undefined;
  return new InvokeError(
    'EXPIRED',
    `deadline of ${deadlineMs} ms after enqueue passed before attempt ${a.number}`,
  );
}

/**
 * What becomes of a finished attempt: completed; retry (transient, attempts left); held (a
 * final failure of a step with onFailure=hold: nothing saved or emitted); failed.
 */
export function attemptKind(
  outcome: Outcome,
  a: Pick<Attempt, 'number'> & { job: InvokeJob | undefined },
  maxAttempts: number,
): 'completed' | 'retry' | 'held' | 'failed' {
  if (outcome.ok) return 'completed';
  if (outcome.error?.retryable && a.number < maxAttempts) return 'retry';
  return a.job?.onFailure === 'hold' ? 'held' : 'failed';
}

export function createAttemptPipeline<A extends Attempt>(io: AttemptIO<A>) {
  const { renderer } = io;

  /** 3. render */
  async function render(a: A): Promise<AttemptRequest> {
    const { job, view } = a;
    const context = needsContext(job) ? await io.readContext(a, job) : {};
    const scope = buildScope(job, context, view?.secrets ?? io.secrets);
    if (job.wait) scope.vars.callback = await io.callbackScope(a, job);
    // Renders share event-loop turns (template/budget.ts): wait when this turn's share is used.
    const turn = renderer.ready();
    if (turn) await turn;
    const rendered = renderer.renderRequest(job.request, scope.vars, job.tenantId);
    if (view) checkBroken(view, scope.usedSecrets, job.tenantId);
    // Secrets are references until the HTTP client sends (template/secret-refs.ts).
    scope.refs.check(rendered);
    rendered.secretRefs = scope.refs;
    const header = job.request.idempotencyHeader;
    if (header) rendered.headers[header.toLowerCase()] = io.idempotencyValue(a, job);
    const cacheKey =
      job.cache && io.cache
        ? renderer.renderString(job.cache.key, scope.vars, 'cache.key')
        : undefined;
    // Not `{ ...rendered, usedSecrets }`: see buildScope (V8's slow path for a spread-first literal).
    return Object.assign({}, rendered, { usedSecrets: scope.usedSecrets, cacheKey });
  }

  /** 5-7. limits, call (with the step's credential), classify */
  async function call(a: A, req: AttemptRequest, url: URL): Promise<Outcome> {
    const release = io.beforeCall ? await io.beforeCall(a, url) : undefined;
    try {
      const opts: SendOptions = { usedSecrets: req.usedSecrets, url, secrets: a.view?.secrets };
      if (io.dnsLookup) opts.dnsLookup = io.dnsLookup;
      const { job } = a;
      const res =
        job.request.auth && io.auth
          ? await io.auth.send(job, req, opts, a)
          : await io.http.send(req, opts);
      a.response = res;
      return fromResponse(res, job, io.limits);
    } finally {
      release?.();
    }
  }

  /** 4. cache: a hit is the outcome without a call. */
  function callThroughCache(a: A, req: AttemptRequest, url: URL): Promise<Outcome> {
    const { job } = a;
    // Not for a step that waits for a callback: only a real call starts the partner's work.
    if (!job.cache || !io.cache || req.cacheKey === undefined || job.wait) return call(a, req, url);
    const carriedSecret = req.usedSecrets.size > 0 || job.request.auth !== undefined;
    return cachedCall(io.cache, { ...job, cache: job.cache }, req.cacheKey, carriedSecret, () =>
      call(a, req, url),
    );
  }

  /**
   * Runs stages 2-7 of a validated job. Resolves to the outcome, its error scrubbed of the job's
   * secrets; rejects only with what is not ours (Redis trouble, a bug, BullMQ's DelayedError),
   * for the surface to handle.
   */
  async function run(a: A): Promise<Outcome> {
    let outcome: Outcome;
    const expired = expire(a);
    if (expired) outcome = fromError(expired);
    else {
      try {
        const req = await render(a);
        a.request = req;
        const url = new URL(req.url);
        a.url = url;
        if (a.view) a.scrub = a.view.scrub;
        outcome = await callThroughCache(a, req, url);
      } catch (err) {
        if (!isInvokeError(err)) throw err;
        outcome = fromError(err);
      }
    }
    if (outcome.error) outcome.error = scrubbed(outcome.error, a.view?.scrub ?? io.scrub);
    return outcome;
  }

  return { run };
}

export type AttemptPipeline<A extends Attempt> = ReturnType<typeof createAttemptPipeline<A>>;

/** Our error with secrets scrubbed from its detail (a partner may echo one back). */
export function scrubbed(err: InvokeError, scrub: (text: string) => string): InvokeError {
  const retry = err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {};
  return new InvokeError(err.code, scrub(err.detail), {
    retryable: err.retryable,
    status: err.status,
    ...retry,
  });
}
