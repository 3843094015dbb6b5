/**
 * The envelopes that end a waiting step (contract v1.1 section 6.5): completed by a callback
 * (its body becomes the envelope's body, with save.pick, and `callback.at` says when it came),
 * timed out (CALLBACK_TIMEOUT) or discarded by an operator (DISCARDED). Status, headers,
 * attempts and duration are the call's, kept in the record as CallMeta.
 */
import type { Envelope } from '../contract/envelope.js';
import type { InvokeJob } from '../contract/job.js';
import { idempotencyKey } from '../contract/idempotency.js';
import { applyPick } from '../lib/pick.js';

export interface CallMeta {
  status: number | null;
  headers: Record<string, string>;
  attempts: number;
  durationMs: number;
}

export function metaOf(envelope: Envelope): CallMeta {
  return {
    status: envelope.status,
    headers: envelope.headers,
    attempts: envelope.attempts,
    durationMs: envelope.durationMs,
  };
}

function base(job: InvokeJob, meta: CallMeta, now: Date) {
  return {
    status: meta.status,
    truncated: false,
    headers: meta.headers,
    attempts: meta.attempts,
    durationMs: meta.durationMs,
    at: now.toISOString(),
    eventId: idempotencyKey(job),
  };
}

export function completedEnvelope(
  job: InvokeJob,
  meta: CallMeta,
  body: unknown,
  callbackAt: string,
  now = new Date(),
): Envelope {
  const picked = applyPick(job.save.pick, { status: meta.status, headers: meta.headers, body });
  return {
    ok: true,
    body: picked,
    error: null,
    ...base(job, meta, now),
    callback: { at: callbackAt },
  };
}

export function timeoutEnvelope(job: InvokeJob, meta: CallMeta, now = new Date()): Envelope {
  const message = `no callback within wait.timeoutMs (${job.wait?.timeoutMs} ms) after the call succeeded`;
  return {
    ok: false,
    body: null,
    error: { code: 'CALLBACK_TIMEOUT', message, retryable: false },
    ...base(job, meta, now),
  };
}

export function discardedEnvelope(
  job: InvokeJob,
  meta: CallMeta,
  timedOut: boolean,
  now = new Date(),
): Envelope {
  const message = `discarded by an operator while ${timedOut ? 'held after CALLBACK_TIMEOUT' : 'waiting for the callback'}`;
  return {
    ok: false,
    body: null,
    error: { code: 'DISCARDED', message, retryable: false },
    ...base(job, meta, now),
  };
}
