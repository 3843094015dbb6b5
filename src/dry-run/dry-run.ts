/**
 * MINIMAL STAND-IN (ops branch) for the producers' dry run, same signature:
 * `createDryRun(cfg).run(input) -> { request, envelope }`. Renders and sends the step's request
 * now, under the same egress policy, and returns the rendered request with secrets masked and
 * the envelope that would be saved. Saves nothing, emits nothing. The lead keeps the producers'
 * version when merging.
 */
import type { Config } from '../config.js';
import { describeIssues, invokeJobSchema } from '../contract/job.js';
import { InvokeError, isInvokeError } from '../contract/errors.js';
import { idempotencyKey } from '../contract/idempotency.js';
import type { Envelope } from '../contract/envelope.js';
import { createRenderer } from '../template/render.js';
import { buildScope } from '../template/scope.js';
import { createScrubber } from '../template/secrets.js';
import { createHttpClient } from '../http/call.js';
import { fromError, fromResponse, toEnvelope, type Outcome } from '../worker/outcome.js';

export interface DryRunRequest { method: string; url: string; headers: Record<string, string>; body: string | null }
export interface DryRunResult { request: DryRunRequest | null; envelope: Envelope }

export function createDryRun(cfg: Config) {
  const renderer = createRenderer();
  const http = createHttpClient(cfg);
  const scrub = createScrubber(cfg.secrets);
  const clean = (e: InvokeError) => new InvokeError(e.code, scrub(e.message.slice(e.code.length + 2)), { retryable: e.retryable, status: e.status });

  async function run(input: unknown): Promise<DryRunResult> {
    const parsed = invokeJobSchema.safeParse(input);
    if (!parsed.success) throw new InvokeError('INVALID_JOB', describeIssues(parsed.error));
    const job = parsed.data;
    const started = Date.now();
    let request: DryRunRequest | null = null;
    let outcome: Outcome;
    try {
      const scope = buildScope(job, {}, cfg.secrets);
      const rendered = renderer.renderRequest(job.request, scope.vars);
      request = { method: rendered.method, url: scrub(rendered.url), headers: Object.fromEntries(Object.entries(rendered.headers).map(([k, v]) => [k, scrub(v)])), body: rendered.body ? scrub(rendered.body.text) : null };
      outcome = fromResponse(await http.send(rendered, { usedSecrets: scope.usedSecrets }), job, { retryAfterMaxMs: cfg.INVOKE_RETRY_AFTER_MAX_MS, maxErrorBodyBytes: cfg.INVOKE_MAX_ERROR_BODY_BYTES });
    } catch (err) {
      if (!isInvokeError(err)) throw err;
      outcome = fromError(err);
    }
    if (outcome.error) outcome.error = clean(outcome.error);
    return { request, envelope: toEnvelope(outcome, 1, Date.now() - started, idempotencyKey(job)) };
  }
  return { run, close: () => http.close() };
}
