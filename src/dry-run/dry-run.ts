/**
 * The dry run behind the journey editor's "send test" button (POST /v1/invocations/test):
 *
 *   1. validate  with the worker's schema (InvalidJobError naming each path)
 *   2. render    with the real renderer; `context` comes from the input, or is read (HGETALL,
 *                read-only) from the run's context hash when a template needs it
 *   3. call      now, with the real HTTP client: same egress policy, limits and secret bindings;
 *                not while the host's breaker is open or a Retry-After pauses it (see heldBack)
 *   4. classify  with the worker's outcome.ts into the envelope the worker would save
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
import { InvokeError, isInvokeError } from '../contract/errors.js';
import type { Envelope } from '../contract/envelope.js';
import { invokeJobSchema, type InvokeJob, type InvokeJobInput } from '../contract/job.js';
import { InvalidJobError } from '../contract/invalid-job.js';
import { idempotencyKey } from '../contract/idempotency.js';
import { createHttpClient } from '../http/call.js';
import { hostStatus } from '../destinations/admin.js';
import { isUnlimited, loadDestinationPolicy } from '../destinations/policy.js';
import { createRedis, type RedisClient } from '../redis.js';
import { contextKey, readContext } from '../store/context.js';
import { createRenderer, type RenderedRequest } from '../template/render.js';
import { buildScope, needsContext } from '../template/scope.js';
import { placeholderCallback } from '../callbacks/stage.js';
import { createScrubber, type Scrub } from '../template/secrets.js';
import { fromError, fromResponse, toEnvelope, type Outcome } from '../worker/outcome.js';
import { maskRequest, type ShownRequest } from './mask.js';
import { createTenancy, checkBroken, type SecretsView, type Tenancy } from '../tenants/index.js';
import { createAuth, type Auth, type AuthUse } from '../auth/index.js';

/** Job data plus, optionally, the `context` templates should see (skips the Redis read). */
export const dryRunInputSchema = invokeJobSchema.extend({ context: z.record(z.string(), z.unknown()).optional() });
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
  const renderer = createRenderer({ budgetMs: cfg.INVOKE_TEMPLATE_BUDGET_MS, maxBodyChars: cfg.INVOKE_MAX_REQUEST_BYTES });
  const http = createHttpClient(cfg);
  const scrub = createScrubber(cfg.secrets);
  const limits = { retryAfterMaxMs: cfg.INVOKE_RETRY_AFTER_MAX_MS, maxErrorBodyBytes: cfg.INVOKE_MAX_ERROR_BODY_BYTES };
  const destinations = loadDestinationPolicy(cfg.INVOKE_DESTINATIONS);
  let ownRedis: RedisClient | undefined;
  const redis = () => opts.redis ?? (ownRedis ??= createRedis(cfg, 'dry-run'));
  const platformView: SecretsView = { secrets: cfg.secrets, scrub, broken: new Map() };
  let ownTenancy: Pick<Tenancy, 'resolver' | 'runs'> | undefined;
  const tenancy = () => opts.tenancy ?? (ownTenancy ??= createTenancy(cfg, redis(), scrub));

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
      throw new InvokeError('INVALID_JOB', `runId: run ${job.runId} is not ${job.tenantId === undefined ? 'a run without tenant' : `a run of tenant ${job.tenantId}`}; its context is not readable here (pass "context" in the request to test with sample values)`, { retryable: false });
    }
    return readContext(redis(), contextKey(cfg.INVOKE_CTX_PREFIX, job.runId));
  }

  function render(job: InvokeJob, context: Record<string, unknown>, view: SecretsView) {
    const scope = buildScope(job, context, view.secrets);
    // A dry run makes the call but waits for nothing: a placeholder that completes nothing (404).
    if (job.wait) scope.vars.callback = placeholderCallback(cfg.INVOKE_PUBLIC_URL);
    const rendered: RenderedRequest = renderer.renderRequest(job.request, scope.vars, job.tenantId);
    checkBroken(view, scope.usedSecrets, job.tenantId);
    scope.refs.check(rendered);
    rendered.secretRefs = scope.refs;
    // A fresh key, never the real one: a partner that dedupes on it must not answer the
    // real call later with this test's cached response.
    if (job.request.idempotencyHeader) rendered.headers[job.request.idempotencyHeader.toLowerCase()] = `test.${idempotencyKey(job)}.${randomBytes(4).toString('hex')}`;
    return { rendered, usedSecrets: scope.usedSecrets };
  }

  /**
   * A breaker that is open (after failures, or opened by an operator to stop calls to a partner)
   * or a Retry-After pause holds the worker's calls to the host, so it holds the test call too:
   * the button must not reach a partner everything else is keeping away from. Read-only, like
   * the worker's check for a host with no limits configured (none then). Rate and concurrency
   * limits are not applied to one call by a person, and its answer does not feed the breaker.
   * Half-open lets it through: with no jobs flowing, no worker probe would ever close it.
   */
  async function heldBack(url: string): Promise<InvokeError | undefined> {
    const host = new URL(url).host.toLowerCase();
    if (isUnlimited(destinations.resolve(host))) return undefined;
    const status = await hostStatus(redis(), cfg.BULLMQ_PREFIX, host, 0);
    if (status.breaker === 'open') {
      return new InvokeError('CIRCUIT_OPEN', `${host}: circuit breaker open${status.manual ? ' (opened by an operator)' : ''}${status.openUntil ? ` until ${status.openUntil}` : ''}; test call not sent`, { retryable: false });
    }
    if (status.pausedUntil) return new InvokeError('RATE_LIMITED', `${host}: paused by Retry-After until ${status.pausedUntil}; test call not sent`, { retryable: false });
    return undefined;
  }

  let auth: Auth | undefined;
  const authFor = () => (auth ??= createAuth(cfg, redis(), http));

  async function attempt(job: InvokeJob, given: Record<string, unknown> | undefined, view: SecretsView): Promise<{ outcome: Outcome; sent: RenderedRequest | null; used: AuthUse | undefined }> {
    let sent: RenderedRequest | null = null;
    let used: AuthUse | undefined;
    try {
      const { rendered, usedSecrets } = render(job, await contextFor(job, given), view);
      sent = rendered;
      const held = await heldBack(rendered.url);
      if (held) return { outcome: fromError(held), sent, used };
      const sendOpts = { usedSecrets, secrets: view.secrets, ...(opts.dnsLookup ? { dnsLookup: opts.dnsLookup } : {}) };
      // The same auth stage as the worker: the same token cache, so a test call takes no token of its own when one is kept.
      const res = job.request.auth ? (await authFor().stage.sendReporting(job, rendered, sendOpts, (u) => (used = u))).res : await http.send(rendered, sendOpts);
      return { outcome: fromResponse(res, job, limits), sent, used };
    } catch (err) {
      // Only our errors become envelopes; anything else is a bug and must not leak its message.
      if (!isInvokeError(err)) throw new Error(`dry run failed (${(err as Error)?.name ?? 'unknown'})`);
      return { outcome: fromError(scrubError(err, view.scrub)), sent, used };
    }
  }

  async function run(input: unknown): Promise<DryRunResult> {
    const parsed = dryRunInputSchema.safeParse(input);
    if (!parsed.success) throw InvalidJobError.fromZod(parsed.error);
    const { context, ...job } = parsed.data;
    const started = performance.now();
    const view = job.tenantId === undefined ? platformView : await tenancy().resolver.view(job.tenantId);
    const { outcome, sent, used } = await attempt(job, context, view);
    const envelope = toEnvelope(outcome, 1, performance.now() - started, idempotencyKey(job));
    const result: DryRunResult = { request: sent ? maskRequest(sent, cfg.INVOKE_USER_AGENT) : null, ...(job.request.auth ? { auth: used ? { ...used } : null } : {}), envelope };
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

function scrubError(err: InvokeError, scrub: Scrub): InvokeError {
  const message = scrub(err.detail);
  return new InvokeError(err.code, message, { retryable: err.retryable, status: err.status, ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}) });
}
