/**
 * The worker's side of destination limits, plugged into the processor's hooks:
 *
 *   beforeCall  asks Redis whether this host may be called now (pause, breaker, concurrency,
 *               rate). If not, the job goes back to BullMQ's delayed set until the host has
 *               room (moveToDelayed + DelayedError: not an attempt, and the worker slot is free
 *               at once for other hosts' jobs). Past the policy deadline it fails RATE_LIMITED
 *               or CIRCUIT_OPEN, a permanent error the processor saves and emits as usual.
 *   observe     feeds each finished call into the host's breaker, and pauses the host for
 *               every worker when a 429/503 carried Retry-After.
 *
 * A host with only a breaker (no rate or concurrency limit: every host by default) that this
 * process saw closed less than FRESH_MS ago is called without asking Redis, and its successes
 * are counted in one record per FLUSH_MS; failures and pauses are recorded at once (with the
 * successes before them). Two Redis scripts per call cost a healthy host's calls more CPU than
 * the rest of our pipeline (scripts/bench); the price is that a breaker opened elsewhere (by
 * another worker or by hand) or another worker's Retry-After pause reaches this process up to
 * FRESH_MS late (docs/destinations.md).
 */
import { DelayedError, type Job } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { InvokeError } from '../contract/errors.js';
import type { Logger } from '../logger.js';
import type { AttemptInfo, BeforeCall } from '../queue/attempt-hooks.js';
import { isUnlimited, type DestinationPolicy, type HostPolicy } from './policy.js';
import type { CallKind, DestinationStore, Verdict } from './store.js';

interface Held { host: string; leaseId: string; probe: boolean; policy: HostPolicy }

/** What this process last learnt from Redis about a breaker-only host, and its unsent successes. */
interface HostView { closedAt: number; pausedUntil: number; pendingOk: number; flushing: ReturnType<typeof setTimeout> | undefined }

/** Lease on a concurrency slot: the call's own timeout plus slack, so a crashed worker's slot frees itself. */
const LEASE_SLACK_MS = 5000;
const REGISTER_EVERY_MS = 60_000;
/** A rate permit seen this long after asking is not used (see beforeCall). */
const STALE_PERMIT_MS = 100;
/** A breaker-only host seen closed this recently is called without a Redis round trip. */
export const FRESH_MS = 1000;
/** Successes on the fast path reach the breaker in one record per host this often. */
export const FLUSH_MS = 100;
/** Past this many hosts, views with nothing left to send are forgotten (a worker calling ever-new hosts). */
export const MAX_HOST_VIEWS = 10_000;

const noRelease = () => {};
const breakerOnly = (p: HostPolicy) => p.ratePerSecond === 0 && p.maxConcurrent === 0 && p.breaker !== false;

export interface DestinationGuard {
  beforeCall: BeforeCall;
  observe: (info: AttemptInfo) => void;
  /** Sends the successes not recorded yet (at shutdown). */
  flush(): Promise<void>;
}

export function createDestinationGuard(deps: { policy: DestinationPolicy; store: DestinationStore; logger: Logger; defaultTimeoutMs: number; random?: () => number; maxHostViews?: number }): DestinationGuard {
  const { policy, store, logger } = deps;
  const random = deps.random ?? Math.random;
  const maxHostViews = deps.maxHostViews ?? MAX_HOST_VIEWS;
  const held = new WeakMap<Job, Held>();
  const seen = new Map<string, number>();
  const views = new Map<string, HostView>();
  // Next size at which idle views are swept: doubled past what a sweep could not free, so hosts
  // that all still have successes to send are not scanned again for every new host.
  let sweepAt = maxHostViews;

  function view(host: string): HostView {
    let v = views.get(host);
    if (!v) {
      if (views.size >= sweepAt) {
        forgetIdleViews();
        sweepAt = Math.max(maxHostViews, views.size * 2);
      }
      v = { closedAt: 0, pausedUntil: 0, pendingOk: 0, flushing: undefined };
      views.set(host, v);
    }
    return v;
  }

  /**
   * Only views with no successes waiting for their flush and no pause running: dropping one
   * that still counts successes would lose them (its timer finds no view and records nothing),
   * and a dropped pause would let this process call a paused host until Redis says otherwise.
   */
  function forgetIdleViews(): void {
    const now = Date.now();
    for (const [host, v] of views) {
      if (v.pendingOk === 0 && v.flushing === undefined && v.pausedUntil <= now) views.delete(host);
    }
  }

  /**
   * A record's answer is the breaker's current state: closed refreshes the view, anything else
   * ends the fast path. (A Retry-After pause is not a breaker state: see pausedUntil.)
   */
  function learn(host: string, state: string): void {
    const v = views.get(host);
    if (v) v.closedAt = state === 'closed' ? Date.now() : 0;
  }

  /** Records a call (or, with kind undefined, only the pending successes); never throws. */
  function record(h: Pick<Held, 'host' | 'leaseId' | 'policy'>, kind: CallKind | undefined, pauseMs: number): Promise<void> {
    const v = views.get(h.host);
    let okBefore = 0;
    if (v) {
      okBefore = v.pendingOk;
      v.pendingOk = 0;
      clearTimeout(v.flushing);
      v.flushing = undefined;
    }
    if (kind === undefined) {
      if (okBefore === 0) return Promise.resolve();
      kind = 'ok';
      okBefore--;
    }
    return store.record(h.host, h.policy.breaker, { leaseId: h.leaseId, kind, pauseMs, okBefore }).then(
      (r) => {
        learn(h.host, r.state);
        if (r.transition === 'opened') logger.warn({ host: h.host, openMs: h.policy.breaker ? h.policy.breaker.openMs : undefined }, 'destination breaker opened');
        if (r.transition === 'closed') logger.info({ host: h.host }, 'destination breaker closed');
      },
      (err: Error) => logger.warn({ host: h.host, err: { name: err.name } }, 'destination breaker not updated'),
    );
  }

  /** Throttled ZADD into the host registry (admin list, metrics). */
  function register(host: string): void {
    const now = Date.now();
    if ((seen.get(host) ?? 0) > now - REGISTER_EVERY_MS) return;
    if (seen.size > 10_000) seen.clear();
    seen.set(host, now);
    store.register(host).catch(() => seen.delete(host));
  }

  /** How long to stay away. Concurrency frees at an unknown time: back off per delay, with jitter. */
  function waitMs(v: Extract<Verdict, { go: false }>, job: Job): number {
    const jitter = (ms: number) => Math.round(ms * (0.5 + random()));
    switch (v.reason) {
      case 'reserved': return v.waitMs;
      case 'paused': return v.waitMs + jitter(100);
      case 'open': return v.waitMs < 0 ? jitter(60_000) : v.waitMs + jitter(Math.min(1000, v.waitMs / 10 + 50));
      case 'probing': return jitter(Math.min(v.waitMs, 500));
      case 'busy': {
        const delays = Math.max(0, (job.attemptsStarted ?? 1) - job.attemptsMade - 1);
        return jitter(Math.min(50 * 2 ** Math.min(delays, 6), 2000));
      }
      case 'no-slot': return v.waitMs;
    }
  }

  async function beforeCall(job: Job, url: URL, token: string | undefined): Promise<() => void> {
    const host = url.host.toLowerCase();
    const p = policy.resolve(host);
    if (isUnlimited(p)) return noRelease;
    register(host);
    const fast = breakerOnly(p);
    const known = fast ? views.get(host) : undefined;
    if (known && Date.now() - known.closedAt < FRESH_MS && Date.now() >= known.pausedUntil) {
      held.set(job, { host, leaseId: '', probe: false, policy: p });
      return noRelease;
    }
    const deadline = job.timestamp + policy.deadlineMs;
    const timeoutMs = (job.data as { request?: { timeoutMs?: number } })?.request?.timeoutMs ?? deps.defaultTimeoutMs;
    const leaseId = randomUUID();
    const asked = performance.now();
    let v = await store.acquire(host, p, { leaseId, jobId: job.id ?? leaseId, leaseMs: timeoutMs + LEASE_SLACK_MS, maxWaitMs: deadline - Date.now() });
    if (v.go && p.ratePerSecond > 0 && performance.now() - asked > STALE_PERMIT_MS) {
      // This process stalled between Redis granting the slot and us seeing it: sending now
      // would bunch with later slots (the upstream would see a burst). Hand the permit back
      // (the job keeps its place in the rate schedule) and come back in a moment.
      await store.release(host, leaseId, job.id ?? leaseId);
      v = { go: false, reason: 'busy', waitMs: 0 };
    }
    if (v.go) {
      held.set(job, { host, leaseId, probe: v.probe, policy: p });
      // Allowed and not a probe: the breaker is closed and the host not paused right now.
      if (fast && !v.probe) view(host).closedAt = Date.now();
      if (p.maxConcurrent === 0) return noRelease;
      return () => void store.release(host, leaseId).catch(() => undefined);
    }
    learn(host, 'held');
    const code = v.reason === 'open' || v.reason === 'probing' ? 'CIRCUIT_OPEN' : 'RATE_LIMITED';
    const now = Date.now();
    if (now >= deadline) {
      throw new InvokeError(code, `${host} held back past the destination deadline of ${policy.deadlineMs} ms after enqueue`, { retryable: false });
    }
    const until = Math.min(now + waitMs(v, job), deadline);
    logger.debug({ jobId: job.id, host, reason: v.reason, delayMs: until - now }, 'destination delayed job');
    await job.moveToDelayed(until, token);
    throw new DelayedError(`${code}: ${host} ${v.reason}`);
  }

  function observe(info: AttemptInfo): void {
    const h = held.get(info.job);
    if (!h) return;
    held.delete(info.job);
    const kind = classify(info);
    const pauseMs = (info.status === 429 || info.status === 503) && info.retryAfterMs ? info.retryAfterMs : 0;
    if (pauseMs > 0) {
      view(h.host).pausedUntil = Date.now() + pauseMs;
      logger.info({ host: h.host, pauseMs }, 'destination paused by Retry-After');
    }
    if (h.policy.breaker === false && pauseMs === 0 && !h.probe) return;
    if (breakerOnly(h.policy) && !h.probe && pauseMs === 0 && kind !== 'fail') {
      // No lease to free: a success waits for the host's next batch, and a neutral answer
      // changes nothing outside a probe.
      if (kind === 'ok') {
        const v = view(h.host);
        v.pendingOk++;
        v.flushing ??= setTimeout(() => void record(h, undefined, 0), FLUSH_MS);
      }
      return;
    }
    void record(h, kind, pauseMs);
  }

  async function flush(): Promise<void> {
    const pending: Promise<void>[] = [];
    for (const [host, v] of views) {
      if (v.pendingOk > 0) pending.push(record({ host, leaseId: '', policy: policy.resolve(host) }, undefined, 0));
    }
    await Promise.all(pending);
  }

  return { beforeCall, observe, flush };
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
