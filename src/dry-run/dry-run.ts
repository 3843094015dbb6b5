/**
 * The dry run behind the journey editor's "send test" button (POST /v1/invocations/test):
 *
 *   1. validate  with the worker's schema (InvalidJobError naming each path)
 *   2. attempt   the worker's attempt pipeline (attempt/pipeline.ts) with the dry run's I/O:
 *                `context` comes from the input, or is read (HGETALL, read-only) from the run's
 *                context hash when a template needs it; the call is made now, with the real
 *                HTTP client (same egress policy, limits and secret bindings), but not while
 *                the host's breaker is open or a Retry-After pauses it (see heldBack); no cache
 *   3. classify  into the envelope the worker would save
 *
 * Nothing is saved and nothing is emitted: no job, no context write, no continuation event.
 * What comes back is masked: secret values (createScrubber) everywhere, and the values of
 * credential-bearing headers and query parameters even when they hold no configured secret.
 */
import { randomBytes } from 'node:crypto';
import type dns from 'node:dns';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type { Config } from '../config.js';
import { InvokeError } from '../contract/errors.js';
import type { Envelope } from '../contract/envelope.js';
import { invokeJobSchema, type InvokeJob, type InvokeJobInput } from '../contract/job.js';
import { InvalidJobError } from '../contract/invalid-job.js';
import { idempotencyKey } from '../contract/idempotency.js';
import { createHttpClient } from '../http/call.js';
import { createAttemptPipeline, type Attempt } from '../attempt/pipeline.js';
import { hostStatus } from '../destinations/admin.js';
import { isUnlimited, loadDestinationPolicy } from '../destinations/policy.js';
import { createRedis, type RedisClient } from '../redis.js';
import { contextKey, readContext } from '../store/context.js';
import { createRenderer } from '../template/render.js';
import { needsContext } from '../template/scope.js';
import { placeholderCallback } from '../callbacks/stage.js';
import { createScrubber } from '../template/secrets.js';
import { toEnvelope, type Outcome } from '../attempt/classify.js';
import { maskRequest, type ShownRequest } from './mask.js';
import { createTenancy, type SecretsView, type Tenancy } from '../tenants/index.js';
import { createAuth, type Auth, type AuthUse } from '../auth/index.js';

/** Job data plus, optionally, the `context` templates should see (skips the Redis read). */
export const dryRunInputSchema = invokeJobSchema.extend({
  context: z.record(z.string(), z.unknown()).optional(),
});
export type DryRunInput = InvokeJobInput & { context?: Record<string, unknown> };

export interface DryRunResult {
  /** What was (or would have been) sent, secrets masked; null when rendering failed. */
  request: ShownRequest | null;
  /** The credential request.auth used (docs/auth.md): name, source, type, token obtained or cached; never a secret. */
  auth?: AuthUse | null;
  /** The envelope the worker would save for this attempt (attempts: 1). */
  envelope: Envelope;
}

export interface DryRunOptions {
  /** Connection for the read-only context lookup; opened lazily from cfg when absent. */
  redis?: RedisClient;
  /** DNS override (tests). */
  dnsLookup?: typeof dns.lookup;
  /** Tenant secrets and run ownership (contract 6.1); built on the connection above when absent. */
  tenancy?: Pick<Tenancy, 'resolver' | 'runs'>;
}

export function createDryRun(cfg: Config, opts: DryRunOptions = {}) {
  const renderer = createRenderer({
    budgetMs: cfg.INVOKE_TEMPLATE_BUDGET_MS,
    maxBodyChars: cfg.INVOKE_MAX_REQUEST_BYTES,
  });
  const http = createHttpClient(cfg);
  const scrub = createScrubber(cfg.secrets);
  const limits = {
    retryAfterMaxMs: cfg.INVOKE_RETRY_AFTER_MAX_MS,
    maxErrorBodyBytes: cfg.INVOKE_MAX_ERROR_BODY_BYTES,
  };
  const destinations = loadDestinationPolicy(cfg.INVOKE_DESTINATIONS);
  let ownRedis: RedisClient | undefined;
  const redis = (): RedisClient => {
    if (opts.redis) return opts.redis;
    ownRedis ??= createRedis(cfg, 'dry-run');
    return ownRedis;
  };
  const platformView: SecretsView = { secrets: cfg.secrets, scrub, broken: new Map() };
  let ownTenancy: Pick<Tenancy, 'resolver' | 'runs'> | undefined;
  const tenancy = () => {
    if (opts.tenancy) return opts.tenancy;
    ownTenancy ??= createTenancy(cfg, redis(), scrub);
    return ownTenancy;
  };

  /**
   * The run's saved context, only for its owner: a request with tenantId T reads only runs T
   * owns, one without tenantId only runs no tenant owns (tenants/ownership.ts). Otherwise any
   * token holder could read any run's context by naming its runId.
   */
  async function contextFor(job: InvokeJob, given: Record<string, unknown> | undefined) {
    if (given) return given;
    if (!needsContext(job)) return {};
    const owner = await tenancy().runs.owner(job.runId);
    if (owner !== job.tenantId) {
      throw new InvokeError(
        'INVALID_JOB',
        `runId: run ${job.runId} is not ${job.tenantId === undefined ? 'a run without tenant' : `a run of tenant ${job.tenantId}`}; its context is not readable here (pass "context" in the request to test with sample values)`,
        { retryable: false },
      );
    }
    return readContext(redis(), contextKey(cfg.INVOKE_CTX_PREFIX, job.runId));
  }

  /**
   * A breaker that is open (after failures, or opened by an operator to stop calls to a partner)
   * or a Retry-After pause holds the worker's calls to the host, so it holds the test call too:
   * the button must not reach a partner everything else is keeping away from. Read-only, like
   * the worker's check for a host with no limits configured (none then). Rate and concurrency
   * limits are not applied to one call by a person, and its answer does not feed the breaker.
   * Half-open lets it through: with no jobs flowing, no worker probe would ever close it.
   */
  async function heldBack(url: URL): Promise<InvokeError | undefined> {
    const host = url.host.toLowerCase();
    if (isUnlimited(destinations.resolve(host))) return undefined;
    const status = await hostStatus(redis(), cfg.BULLMQ_PREFIX, host, 0);
    if (status.breaker === 'open') {
      return new InvokeError(
        'CIRCUIT_OPEN',
        `${host}: circuit breaker open${status.manual ? ' (opened by an operator)' : ''}${status.openUntil ? ` until ${status.openUntil}` : ''}; test call not sent`,
        { retryable: false },
      );
    }
    if (status.pausedUntil)
      return new InvokeError(
        'RATE_LIMITED',
        `${host}: paused by Retry-After until ${status.pausedUntil}; test call not sent`,
        { retryable: false },
      );
    return undefined;
  }

  let auth: Auth | undefined;
  const authFor = () => {
    auth ??= createAuth(cfg, redis(), http);
    return auth;
  };

  const pipeline = createAttemptPipeline<DryAttempt>({
    renderer,
    http,
    limits,
    secrets: cfg.secrets,
    scrub,
    readContext: (a, job) => contextFor(job, a.given),
    // A dry run makes the call but waits for nothing: a placeholder that completes nothing (404).
    callbackScope: () => placeholderCallback(cfg.INVOKE_PUBLIC_URL),
    // A fresh key, never the real one: a partner that dedupes on it must not answer the
    // real call later with this test's cached response.
    idempotencyValue: (_a, job) => `test.${idempotencyKey(job)}.${randomBytes(4).toString('hex')}`,
    beforeCall: async (_a, url) => {
      const held = await heldBack(url);
      if (held) throw held;
      return undefined;
    },
    // The same auth stage as the worker: the same token cache, so a test call takes no token of its own when one is kept.
    auth: { send: (job, req, sendOpts, seen) => authFor().stage.send(job, req, sendOpts, seen) },
    dnsLookup: opts.dnsLookup,
  });

  async function run(input: unknown): Promise<DryRunResult> {
    const parsed = dryRunInputSchema.safeParse(input);
    if (!parsed.success) throw InvalidJobError.fromZod(parsed.error);
    const { context, ...job } = parsed.data;
    const started = performance.now();
    const view =
      job.tenantId === undefined ? platformView : await tenancy().resolver.view(job.tenantId);
    const a: DryAttempt = {
      job,
      view,
      enqueuedAt: undefined,
      number: 1,
      request: undefined,
      url: undefined,
      response: undefined,
      scrub: undefined,
      auth: undefined,
      given: context,
    };
    let outcome: Outcome;
    try {
      outcome = await pipeline.run(a);
    } catch (err) {
      // Only our errors become envelopes; anything else is a bug and must not leak its message.
      throw new Error(`dry run failed (${(err as Error)?.name ?? 'unknown'})`);
    }
    const envelope = toEnvelope(outcome, 1, performance.now() - started, idempotencyKey(job));
    const result: DryRunResult = {
      request: a.request ? maskRequest(a.request, cfg.INVOKE_USER_AGENT) : null,
      ...(job.request.auth ? { auth: a.auth ? { ...a.auth } : null } : {}),
      envelope,
    };
    // Last line of defence: a partner echoing a secret back must not show it to the editor.
    return JSON.parse(view.scrub(JSON.stringify(result))) as DryRunResult;
  }

  async function close(): Promise<void> {
    http.close();
    if (ownRedis) await ownRedis.quit().catch(() => ownRedis?.disconnect());
  }

  return { run, close };
}

export type DryRun = ReturnType<typeof createDryRun>;

/** The pipeline's attempt, plus the context the request gave (no Redis read then). */
interface DryAttempt extends Attempt {
  given: Record<string, unknown> | undefined;
}
