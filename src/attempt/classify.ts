/**
 * Classification of one attempt (contract section 4): a response or one of our errors becomes
 * an outcome (ok, or an InvokeError with its code and retryability), and an outcome becomes
 * the envelope that is saved. Pure: the worker and the dry run share it (pipeline.ts).
 */
import { InvokeError } from '../contract/errors.js';
import type { Envelope } from '../contract/envelope.js';
import type { InvokeJob } from '../contract/job.js';
import type { HttpResult } from '../http/call.js';
import { parseRetryAfter } from '../http/retry-after.js';
import { parseBody } from '../lib/json.js';
import { applyPick } from '../lib/pick.js';
import { is2xx, judge, type Verdict } from '../outcome-rules/expect.js';
import type { CacheUse } from '../cache/response-cache.js';

export interface Outcome {
  ok: boolean;
  status: number | null;
  body: unknown;
  truncated: boolean;
  headers: Record<string, string>;
  error: InvokeError | undefined;
  /** Set when the step has `cache`: whether this result came from it (envelope `cached`). */
  cache?: CacheUse;
}

export interface OutcomeLimits {
  retryAfterMaxMs: number;
  maxErrorBodyBytes: number;
}

export function fromResponse(res: HttpResult, job: InvokeJob, limits: OutcomeLimits): Outcome {
  const where = `${res.url.hostname}${res.url.pathname}`;
  const twoxx = is2xx(res.status);
  const tooLarge = () => ({
    ok: false,
    status: res.status,
    body: null,
    truncated: true,
    headers: res.headers,
    error: new InvokeError(
      'RESPONSE_TOO_LARGE',
      `body from ${where} is over INVOKE_MAX_RESPONSE_BYTES`,
      { status: res.status },
    ),
  });
  if (twoxx && res.overLimit) return tooLarge();
  // The whole body is parsed for a 2xx, and for any status when outcome rules read it.
  const whole =
    twoxx || job.expect
      ? parseBody(res.body, res.headers['content-type'], res.overLimit)
      : undefined;
  const verdict =
    job.expect || !twoxx
      ? judge(job.expect, { status: res.status, headers: res.headers, body: whole })
      : SUCCESS;
  if (verdict.success) {
    // A success is saved whole or not at all (a rule may accept a non-2xx whose read was cut off).
    if (res.overLimit) return tooLarge();
    return {
      ok: true,
      status: res.status,
      body: applyPick(job.save.pick, { status: res.status, headers: res.headers, body: whole }),
      truncated: false,
      headers: res.headers,
      error: undefined,
    };
  }
  // Not a success: keep the (truncated) body so a later step can branch on it.
  const truncated = res.truncated || res.body.length > limits.maxErrorBodyBytes;
  const body = parseBody(
    res.body.subarray(0, limits.maxErrorBodyBytes),
    res.headers['content-type'],
    truncated,
  );
  if ('broken' in verdict) {
    const error = new InvokeError(
      'TEMPLATE_ERROR',
      `${verdict.broken.field}: ${verdict.broken.message}`,
      { status: res.status },
    );
    return { ok: false, status: res.status, body, truncated, headers: res.headers, error };
  }
  const retryable = verdict.retry ?? (twoxx ? false : undefined);
  const retryAfterMs =
    res.status === 429 || res.status === 503
      ? parseRetryAfter(res.retryAfter, limits.retryAfterMaxMs)
      : undefined;
  const opts = {
    status: res.status,
    ...(retryable !== undefined ? { retryable } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  };
  const error = twoxx
    ? new InvokeError(
        'UNEXPECTED_RESPONSE',
        `${where} answered ${res.status}; expect.success does not hold`,
        opts,
      )
    : new InvokeError('HTTP_STATUS', `${where} answered ${res.status}`, opts);
  return { ok: false, status: res.status, body, truncated, headers: res.headers, error };
}

const SUCCESS: Verdict = { success: true };

export function fromError(error: InvokeError): Outcome {
  return { ok: false, status: error.status, body: null, truncated: false, headers: {}, error };
}

export function toEnvelope(
  o: Outcome,
  attempts: number,
  durationMs: number,
  eventId: string,
  now = new Date(),
): Envelope {
  return {
    ok: o.ok,
    status: o.status,
    body: o.body,
    truncated: o.truncated,
    headers: o.headers,
    error: o.error ? o.error.toJSON() : null,
    attempts,
    durationMs: Math.round(durationMs),
    at: now.toISOString(),
    eventId,
    ...(o.cache !== undefined ? { cached: o.cache === 'hit' } : {}),
  };
}
