/**
 * The story of one attempt at a journey step's API call, in the worker:
 *
 *   1. validate  the job data with the contract schema (bad data fails at once: INVALID_JOB)
 *   2. enter     a tenant job's run (contract 6.1): another tenant's run fails, nothing written
 *   3. attempt   expire, render, cache, limits, call, classify: the attempt pipeline the dry
 *                run shares (attempt/pipeline.ts), with this worker's I/O passed in
 *   4. save      the envelope to the run's context, then emit the continuation event
 *                (on success, or on final failure with onFailure=continue) — or throw so
 *                BullMQ retries a transient failure with the job's backoff. A step with
 *                `wait` that succeeded waits for its callback instead (callbacks/).
 *
 * I/O is passed in (render, call, readContext, writeResult) so the story is testable alone.
 */
import { DelayedError, type Job } from 'bullmq';
import { performance } from 'node:perf_hooks';
import { InvokeError, isInvokeError } from '../contract/errors.js';
import type { InvokeJob } from '../contract/job.js';
import { idempotencyKey } from '../contract/idempotency.js';
import { buildEvent } from '../events/continuation.js';
import type { AttemptHooks, AttemptInfo } from '../queue/attempt-hooks.js';
import type { Renderer } from '../template/render.js';
import type { Scrubber } from '../template/secrets.js';
import type { HttpClient } from '../http/call.js';
import type { AuthStage } from '../auth/stage.js';
import type { Secret } from '../config.js';
import { enterTenant, type SecretsView, type TenantStage } from '../tenants/resolver.js';
import type { Logger } from '../logger.js';
import { fromError, toEnvelope, type Outcome, type OutcomeLimits } from '../attempt/classify.js';
import {
  attemptKind,
  createAttemptPipeline,
  scrubbed,
  validate,
  type Attempt,
} from '../attempt/pipeline.js';
import { toBullError } from './outcome.js';
import type { WriteResult } from '../store/result-writer.js';
import { salvageIdentity } from '../contract/salvage.js';
import type { WaitStage } from '../callbacks/stage.js';
import type { ResponseCache } from '../cache/response-cache.js';

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
  auth?: Pick<AuthStage, 'send'> | undefined;
  /** Steps with `wait` (contract 6.5): callback.* for templates; waiting instead of save + emit. */
  waitStage?: WaitStage;
  /** The step response cache (contract v1.1 section 6.4); absent: `cache` is not acted on. */
  cache?: ResponseCache;
}

/** One attempt in this worker: the pipeline's, plus the BullMQ job and what finish reads. */
interface WorkerAttempt extends Attempt {
  bull: Job;
  token: string | undefined;
  eventId: string;
  started: number;
  method: string;
}

/** What finish reads of an attempt; one that failed before the pipeline has no (valid) job. */
type Finished = Pick<
  WorkerAttempt,
  'bull' | 'number' | 'started' | 'method' | 'request' | 'response' | 'url' | 'scrub'
> & {
  job: InvokeJob | undefined;
};

export function createProcessor(deps: ProcessorDeps) {
  const { logger, scrub } = deps;

  function waitStage(): WaitStage {
    if (!deps.waitStage)
      throw new InvokeError('INVALID_JOB', 'wait: callbacks are not set up in this worker');
    return deps.waitStage;
  }

  const beforeCall = deps.beforeCall;
  const pipeline = createAttemptPipeline<WorkerAttempt>({
    renderer: deps.renderer,
    http: deps.http,
    limits: deps.limits,
    secrets: deps.secrets,
    scrub,
    readContext: (_a, job) => deps.readContext(job.runId),
    callbackScope: (a, job) => waitStage().scope(a.bull, job),
    idempotencyValue: (a) => a.eventId,
    beforeCall: beforeCall && ((a, url) => beforeCall(a.bull, url, a.token)),
    auth: deps.auth,
    cache: deps.cache,
  });

  /** Fails the job before any attempt: saved under `saveAs` when there is one (never another tenant's run). */
  async function failEarly(
    bull: Job,
    saveAs: InvokeJob | undefined,
    err: unknown,
    started: number,
    method: string,
  ): Promise<never> {
    const error = sanitize(err);
    const a: Finished = {
      bull,
      job: saveAs,
      method,
      number: bull.attemptsMade + 1,
      started,
      request: undefined,
      response: undefined,
      url: undefined,
      scrub: undefined,
    };
    const host = await finish(
      a,
      fromError(error),
      saveAs?.onFailure === 'hold' ? 'held' : 'failed',
    );
    throw toBullError(bull, error, true, host);
  }

  /**
   * Resolves with nothing: the result lives in the context store and the event, and a BullMQ
   * return value would be serialised into the job hash and BullMQ's event stream once more.
   */
  return async function process(bull: Job, token?: string): Promise<void> {
    const started = performance.now();

    // 1. validate
    const job = validate(bull.data);
    if (isInvokeError(job)) return failEarly(bull, salvageIdentity(bull.data), job, started, 'GET');

    // 2. enter the tenant's run
    let view: SecretsView | undefined;
    if (job.tenantId !== undefined && deps.tenancy) {
      try {
        view = await enterTenant(deps.tenancy, job);
      } catch (err) {
        // Another tenant's run: fail without saving into it or emitting for it.
        return failEarly(bull, undefined, err, started, job.request.method);
      }
    }

    // 3. attempt: expire, render, cache, limits, call, classify
    const a: WorkerAttempt = {
      job,
      view,
      enqueuedAt: bull.timestamp,
      number: bull.attemptsMade + 1,
      request: undefined,
      url: undefined,
      response: undefined,
      scrub: undefined,
      auth: undefined,
      bull,
      token,
      eventId: idempotencyKey(job),
      started,
      method: job.request.method,
    };
    let outcome: Outcome;
    try {
      outcome = await pipeline.run(a);
    } catch (err) {
      // beforeCall moved the job to delayed (destination limit): BullMQ's own signal, not an attempt.
      if (err instanceof DelayedError) throw err;
      throw internalError(err);
    }

    // 4. save + emit, or retry
    const kind = attemptKind(outcome, a, bull.opts.attempts ?? 1);
    const host = await finish(a, outcome, kind);
    if (outcome.error) throw toBullError(bull, outcome.error, kind !== 'retry', host);
  };

  /** Our error, scrubbed; anything foreign becomes ours. */
  function sanitize(err: unknown): InvokeError {
    if (isInvokeError(err)) return scrubbed(err, scrub);
    throw internalError(err);
  }

  /**
   * Logs the attempt and, when it is the last one, saves and emits (not for a held failure).
   * Resolves to the host called, scrubbed, for the failure's facts.
   */
  async function finish(
    a: Finished,
    outcome: Outcome,
    kind: AttemptInfo['outcome'],
  ): Promise<string> {
    const { bull, job, method, url } = a;
    const durationMs = performance.now() - a.started;
    const code = outcome.error?.code;
    const host = scrub(url?.hostname ?? '');
    const line = `${method} ${host}${scrub(url?.pathname ?? '')} -> ${outcome.status ?? '-'} in ${Math.round(durationMs)} ms${code ? ` ${code}` : ''} (attempt ${a.number}, ${kind})`;
    // A partner may echo a secret back (body, Location): nothing stored holds one in any spelling.
    if (!scrub.empty) {
      outcome.body = scrub.deep(outcome.body);
      outcome.headers = scrub.deep(outcome.headers);
    }
    const writes: Promise<unknown>[] = [];
    if ((kind === 'completed' || kind === 'failed') && job !== undefined) {
      // The log line rides with the save and emit: one round trip per job on a single node.
      const envelope = toEnvelope(outcome, a.number, durationMs, idempotencyKey(job));
      const event = buildEvent(job, bull.id ?? '', envelope);
      const log = {
        jobKey: `${bull.queueQualifiedName}:${bull.id}`,
        line,
        keepLogs: bull.opts.keepLogs,
      };
      if (outcome.ok && job.wait)
        writes.push(waitStage().wait(bull, job, envelope), bull.log(line));
      else
        writes.push(
          deps.writeResult({ runId: job.runId, variable: job.save.variable, envelope, event, log }),
        );
    } else {
      writes.push(bull.log(line));
    }
    // Together, so a failing write never leaves the other promise's rejection unhandled.
    await Promise.all(writes);
    if (logger.isLevelEnabled('info')) {
      logger.info(
        {
          jobId: bull.id,
          runId: job?.runId ?? bull.data?.runId,
          stepId: job?.stepId ?? bull.data?.stepId,
          tenantId: job?.tenantId,
          attempt: a.number,
          method,
          host,
          status: outcome.status,
          durationMs: Math.round(durationMs),
          outcome: kind,
          errorCode: code,
        },
        'attempt',
      );
    }
    const info: AttemptInfo = {
      job: bull,
      host,
      method,
      status: outcome.status,
      durationMs,
      errorCode: code,
      outcome: kind,
      retryAfterMs: outcome.error?.retryAfterMs,
      attempt: a.number,
      errorMessage: outcome.error?.message,
      request: a.request,
      response: a.response,
      cache: outcome.cache,
      tenantId: job?.tenantId,
      scrub: a.scrub,
    };
    for (const observe of deps.observers ?? []) observe(info);
    return host;
  }
}

export type Processor = ReturnType<typeof createProcessor>;

/** Redis trouble or a bug: BullMQ retries it; only the error's class name is stored, never a foreign message. */
function internalError(err: unknown): Error {
  return new Error(`internal error (${(err as Error)?.name ?? 'unknown'}); will retry`);
}
