/**
 * The story of one attempt at a journey step's API call:
 *
 *   1. validate  the job data with the contract schema (bad data fails at once: INVALID_JOB)
 *   2. expire    if deadlineMs has passed since enqueue (EXPIRED)
 *   3. render    the request templates with data, context and secrets (TEMPLATE_ERROR)
 *   4. call      the partner within the egress policy and limits (http/), with the step's
 *                credential applied when it sets request.auth (auth/stage.ts: AUTH_ERROR);
 *                or take the step's cached result (concurrent misses share one call: cache/)
 *   5. classify  the response or failure into an outcome (outcome.ts)
 *   6. save      the envelope to the run's context, then emit the continuation event
 *                (on success, or on final failure with onFailure=continue) — or throw so
 *                BullMQ retries a transient failure with the job's backoff. A step with
 *                `wait` that succeeded waits for its callback instead (callbacks/).
 *
 * I/O is passed in (render, call, readContext, writeResult) so the story is testable alone.
 */
import { DelayedError, type Job } from 'bullmq';
import { performance } from 'node:perf_hooks';
import { InvokeError, isInvokeError } from '../contract/errors.js';
import { describeIssues, invokeJobSchema, type InvokeJob } from '../contract/job.js';
import { idempotencyKey } from '../contract/idempotency.js';
import { buildEvent } from '../events/continuation.js';
import type { AttemptHooks, AttemptInfo } from '../queue/attempt-hooks.js';
import type { Renderer, RenderedRequest } from '../template/render.js';
import { buildScope, needsContext } from '../template/scope.js';
import type { Scrubber } from '../template/secrets.js';
import type { HttpClient } from '../http/call.js';
import type { AuthStage } from '../auth/stage.js';
import type { Secret } from '../config.js';
import { checkBroken, enterTenant, type SecretsView, type TenantStage } from '../tenants/resolver.js';
import type { Logger } from '../logger.js';
import { fromError, fromResponse, toBullError, toEnvelope, type Outcome, type OutcomeLimits } from './outcome.js';
import type { WriteResult } from '../store/result-writer.js';
import { salvageIdentity } from '../contract/salvage.js';
import type { WaitStage } from '../callbacks/stage.js';
import type { ResponseCache } from '../cache/response-cache.js';
import { cachedCall } from './cached-call.js';

export interface ProcessorDeps extends AttemptHooks {
  renderer: Renderer;
  http: Pick<HttpClient, 'send'>;
  readContext: (runId: string) => Promise<Record<string, unknown>>;
  writeResult: WriteResult;
  logger: Logger;
  secrets: ReadonlyMap<string, Secret>;
  scrub: Scrubber;
  limits: OutcomeLimits;
  /** Tenant jobs (contract 6.1): run ownership and the tenant's secrets; absent = v1 only. */
  tenancy?: TenantStage;
  /** Applies request.auth (auth/stage.ts); steps without it go straight to http. */
  auth?: Pick<AuthStage, 'send'>;
  /** Steps with `wait` (contract 6.5): callback.* for templates; waiting instead of save + emit. */
  waitStage?: WaitStage;
  /** The step response cache (contract v1.1 section 6.4); absent: `cache` is not acted on. */
  cache?: ResponseCache;
}

export function createProcessor(deps: ProcessorDeps) {
  const { renderer, http, logger, scrub } = deps;

  /** Our error with secrets scrubbed from its message; anything foreign becomes ours. */
  function sanitize(err: unknown, view?: SecretsView): InvokeError {
    if (isInvokeError(err)) {
      const clean = (view?.scrub ?? scrub)(err.detail);
      return new InvokeError(err.code, clean, { retryable: err.retryable, status: err.status, ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}) });
    }
    throw internalError(err);
  }

  function waitStage(): WaitStage {
    if (!deps.waitStage) throw new InvokeError('INVALID_JOB', 'wait: callbacks are not set up in this worker');
    return deps.waitStage;
  }

  async function render(bull: Job, job: InvokeJob, eventId: string, view: SecretsView | undefined): Promise<RenderedRequest & { usedSecrets: Set<string>; cacheKey: string | undefined }> {
    const context = needsContext(job) ? await deps.readContext(job.runId) : {};
    const scope = buildScope(job, context, view?.secrets ?? deps.secrets);
    if (job.wait) scope.vars.callback = await waitStage().scope(bull, job);
    // Renders share event-loop turns (template/budget.ts): wait when this turn's share is used.
    const turn = renderer.ready();
    if (turn) await turn;
    const rendered = renderer.renderRequest(job.request, scope.vars, job.tenantId);
    if (view) checkBroken(view, scope.usedSecrets, job.tenantId);
    // Secrets are references until the HTTP client sends (template/secret-refs.ts).
    scope.refs.check(rendered);
    rendered.secretRefs = scope.refs;
    if (job.request.idempotencyHeader) rendered.headers[job.request.idempotencyHeader.toLowerCase()] = eventId;
    const cacheKey = job.cache ? renderer.renderString(job.cache.key, scope.vars, 'cache.key') : undefined;
    // Not `{ ...rendered, usedSecrets }`: see buildScope (V8's slow path for a spread-first literal).
    return Object.assign({}, rendered, { usedSecrets: scope.usedSecrets, cacheKey });
  }

  async function attempt(bull: Job, job: InvokeJob, eventId: string, token: string | undefined, trace: Trace, view: SecretsView | undefined): Promise<{ outcome: Outcome; url: URL | undefined }> {
    let url: URL | undefined;
    try {
      const req = await render(bull, job, eventId, view);
      trace.request = req;
      if (view) trace.scrub = view.scrub;
      url = new URL(req.url);
      const target = url;
      const call = async (): Promise<Outcome> => {
        const release = deps.beforeCall ? await deps.beforeCall(bull, target, token) : undefined;
        try {
          const sendOpts = view ? { usedSecrets: req.usedSecrets, url: target, secrets: view.secrets } : { usedSecrets: req.usedSecrets, url: target };
          const res = job.request.auth && deps.auth ? await deps.auth.send(job, req, sendOpts) : await http.send(req, sendOpts);
          trace.response = res;
          return fromResponse(res, job, deps.limits);
        } finally {
          release?.();
        }
      };
      // The step's response cache: a hit is the outcome without a call. Not for a step that
      // waits for a callback: only a real call starts the partner's work.
      if (job.cache && deps.cache && req.cacheKey !== undefined && !job.wait) {
        const carriedSecret = req.usedSecrets.size > 0 || job.request.auth !== undefined;
        return { outcome: await cachedCall(deps.cache, { ...job, cache: job.cache }, req.cacheKey, carriedSecret, call), url };
      }
      return { outcome: await call(), url };
    } catch (err) {
      // beforeCall moved the job to delayed (destination limit): BullMQ's own signal, not an attempt.
      if (err instanceof DelayedError) throw err;
      if (!isInvokeError(err)) throw internalError(err);
      return { outcome: fromError(err), url };
    }
  }

  /**
   * Resolves with nothing: the result lives in the context store and the event, and a BullMQ
   * return value would be serialised into the job hash and BullMQ's event stream once more.
   */
  return async function process(bull: Job, token?: string): Promise<void> {
    const started = performance.now();
    const attemptNo = bull.attemptsMade + 1;
    const maxAttempts = bull.opts.attempts ?? 1;

    // 1. validate
    const parsed = invokeJobSchema.safeParse(bull.data);
    if (!parsed.success) {
      const error = new InvokeError('INVALID_JOB', describeIssues(parsed.error));
      await finish(bull, salvageIdentity(bull.data), fromError(sanitize(error)), true, attemptNo, started, undefined, 'GET');
      throw toBullError(bull, sanitize(error), true);
    }
    const job = parsed.data;
    const eventId = idempotencyKey(job);
    let view: SecretsView | undefined;
    if (job.tenantId !== undefined && deps.tenancy) {
      try {
        view = await enterTenant(deps.tenancy, job);
      } catch (err) {
        // Another tenant's run: fail without saving into it or emitting for it.
        const error = sanitize(err);
        await finish(bull, undefined, fromError(error), true, attemptNo, started, undefined, job.request.method);
        throw toBullError(bull, error, true);
      }
    }

    // 2. expire
    let outcome: Outcome;
    let url: URL | undefined;
    const trace: Trace = {};
    if (job.deadlineMs !== undefined && Date.now() > bull.timestamp + job.deadlineMs) {
      outcome = fromError(new InvokeError('EXPIRED', `deadline of ${job.deadlineMs} ms after enqueue passed before attempt ${attemptNo}`));
    } else {
      // 3-5. render, call, classify
      ({ outcome, url } = await attempt(bull, job, eventId, token, trace, view));
    }
    if (outcome.error) outcome.error = sanitize(outcome.error, view);

    // 6. save + emit, or retry
    const final = !outcome.error || !outcome.error.retryable || attemptNo >= maxAttempts;
    await finish(bull, job, outcome, final, attemptNo, started, url, job.request.method, trace);
    if (outcome.error) throw toBullError(bull, outcome.error, final);
  };

  /** Logs the attempt and, when it is the last one, saves and emits (not for a held failure). */
  async function finish(bull: Job, job: InvokeJob | undefined, outcome: Outcome, final: boolean, attemptNo: number, started: number, url: URL | undefined, method: string, trace: Trace = {}): Promise<void> {
    const durationMs = performance.now() - started;
    const held = !outcome.ok && job?.onFailure === 'hold';
    const kind: AttemptInfo['outcome'] = outcome.ok ? 'completed' : !final ? 'retry' : held ? 'held' : 'failed';
    const code = outcome.error?.code;
    const host = scrub(url?.hostname ?? '');
    const line = `${method} ${host}${scrub(url?.pathname ?? '')} -> ${outcome.status ?? '-'} in ${Math.round(durationMs)} ms${code ? ` ${code}` : ''} (attempt ${attemptNo}, ${kind})`;
    // A partner may echo a secret back (body, Location): nothing stored holds one in any spelling.
    if (!scrub.empty) {
      outcome.body = scrub.deep(outcome.body);
      outcome.headers = scrub.deep(outcome.headers);
    }
    const writes: Promise<unknown>[] = [];
    // Failed attempts only: structured facts the operator API filters and groups on (ops/failure.ts).
    if (!outcome.ok) writes.push(bull.updateProgress({ code: code ?? null, status: outcome.status, host }));
    if (final && job !== undefined && !held) {
      // The log line rides with the save and emit: one round trip per job on a single node.
      const envelope = toEnvelope(outcome, attemptNo, durationMs, idempotencyKey(job));
      const event = buildEvent(job, bull.id ?? '', envelope);
      const log = { jobKey: `${bull.queueQualifiedName}:${bull.id}`, line, keepLogs: bull.opts.keepLogs };
      if (outcome.ok && job.wait) writes.push(waitStage().wait(bull, job, envelope), bull.log(line));
      else writes.push(deps.writeResult({ runId: job.runId, variable: job.save.variable, envelope, event, log }));
    } else {
      writes.push(bull.log(line));
    }
    // Together, so a failing write never leaves the other promise's rejection unhandled.
    await Promise.all(writes);
    if (logger.isLevelEnabled('info')) {
      logger.info({ jobId: bull.id, runId: job?.runId ?? bull.data?.runId, stepId: job?.stepId ?? bull.data?.stepId, tenantId: job?.tenantId, attempt: attemptNo, method, host, status: outcome.status, durationMs: Math.round(durationMs), outcome: kind, errorCode: code }, 'attempt');
    }
    const info: AttemptInfo = { job: bull, host, method, status: outcome.status, durationMs, errorCode: code, outcome: kind, retryAfterMs: outcome.error?.retryAfterMs, attempt: attemptNo, errorMessage: outcome.error?.message, request: trace.request, response: trace.response, cache: outcome.cache, tenantId: job?.tenantId, scrub: trace.scrub };
    for (const observe of deps.observers ?? []) observe(info);
  }
}

/** What an attempt sent and got back, for observers (attempt records). */
interface Trace { request?: RenderedRequest; response?: AttemptInfo['response']; scrub?: Scrubber }

export type Processor = ReturnType<typeof createProcessor>;

/** Redis trouble or a bug: BullMQ retries it; only the error's class name is stored, never a foreign message. */
function internalError(err: unknown): Error {
  return new Error(`internal error (${(err as Error)?.name ?? 'unknown'}); will retry`);
}
