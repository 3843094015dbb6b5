/**
 * The guard's decisions, pure: which hosts may skip Redis, how long a held-back job stays away,
 * and what a finished call means for the host's breaker. No I/O, no clock, no state.
 */
import type { AttemptInfo } from '../queue/attempt-hooks.js';
import type { HostPolicy } from './policy.js';
import type { CallKind, Verdict } from './store.js';

/** What beforeCall granted one attempt; handed back when the call has finished. */
export interface Lease {
  host: string;
  /** '' when nothing is held in Redis (the fast path). */
  leaseId: string;
  /** This call is the half-open breaker's probe. */
  probe: boolean;
  policy: HostPolicy;
}

export type HeldBack = Extract<Verdict, { go: false }>;

/** Only a breaker (every host by default): may take the fast path (guard.ts). */
export const breakerOnly = (p: HostPolicy) =>
  p.ratePerSecond === 0 && p.maxConcurrent === 0 && p.breaker !== false;

/** The error a job held back past the destination deadline fails with. */
export const heldBackCode = (v: HeldBack) =>
  v.reason === 'open' || v.reason === 'probing' ? 'CIRCUIT_OPEN' : 'RATE_LIMITED';

/**
 * How long a held-back job stays away. Redis knows when a pause, an open breaker or a reserved
 * rate slot ends; a concurrency slot frees at an unknown time, so that backs off per delay
 * (`delays`: how often this attempt was held back already), with jitter.
 */
export function waitMs(v: HeldBack, delays: number, random: () => number): number {
  const jitter = (ms: number) => Math.round(ms * (0.5 + random()));
  switch (v.reason) {
    case 'reserved':
      return v.waitMs;
    case 'paused':
      return v.waitMs + jitter(100);
    case 'open':
      return v.waitMs < 0 ? jitter(60_000) : v.waitMs + jitter(Math.min(1000, v.waitMs / 10 + 50));
    case 'probing':
      return jitter(Math.min(v.waitMs, 500));
    case 'busy':
      return jitter(Math.min(50 * 2 ** Math.min(delays, 6), 2000));
    case 'no-slot':
      return v.waitMs;
  }
}

/**
 * What a finished call says about the host's health: no answer or a 5xx/408 is a failure;
 * any other answer (2xx, 4xx) proves it up; 429 (that is the rate limit, handled by the pause)
 * and our own refusals say nothing.
 */
export function classify(info: Pick<AttemptInfo, 'status' | 'errorCode'>): CallKind {
  if (info.errorCode === 'CONNECT_ERROR' || info.errorCode === 'TIMEOUT') return 'fail';
  if (info.status === null) return 'neutral';
  if (info.status === 429) return 'neutral';
  if (info.status >= 500 || info.status === 408) return 'fail';
  return 'ok';
}

/** A 429/503 with Retry-After pauses the host for every worker this long (0: no pause). */
export const pauseOf = (info: Pick<AttemptInfo, 'status' | 'retryAfterMs'>) =>
  (info.status === 429 || info.status === 503) && info.retryAfterMs ? info.retryAfterMs : 0;

/**
 * What to do with a finished call: record it in Redis now (failures, pauses, probes, and any
 * call of a host with limits), add a success to the host's next batch (the fast path has no
 * lease to free), or nothing (a neutral answer outside a probe, or a host without a breaker).
 */
export type Settlement =
  | { send: 'now'; kind: CallKind; pauseMs: number }
  | { send: 'batch' }
  | { send: 'nothing' };

export function settle(lease: Lease, info: AttemptInfo): Settlement {
  const kind = classify(info);
  const pauseMs = pauseOf(info);
  if (lease.probe || pauseMs > 0) return { send: 'now', kind, pauseMs };
  if (lease.policy.breaker === false) return { send: 'nothing' };
  if (!breakerOnly(lease.policy) || kind === 'fail') return { send: 'now', kind, pauseMs };
  return kind === 'ok' ? { send: 'batch' } : { send: 'nothing' };
}
