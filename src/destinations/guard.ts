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
 */
import { DelayedError, type Job } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { InvokeError } from '../contract/errors.js';
import type { Logger } from '../logger.js';
import type { AttemptInfo, ProcessorDeps } from '../worker/processor.js';
import { isUnlimited, type DestinationPolicy, type HostPolicy } from './policy.js';
import type { CallKind, DestinationStore, Verdict } from './store.js';

interface Held { host: string; leaseId: string; probe: boolean; policy: HostPolicy }

/** Lease on a concurrency slot: the call's own timeout plus slack, so a crashed worker's slot frees itself. */
const LEASE_SLACK_MS = 5000;
const REGISTER_EVERY_MS = 60_000;
/** A rate permit seen this long after asking is not used (see beforeCall). */
const STALE_PERMIT_MS = 100;

export interface DestinationGuard {
  beforeCall: NonNullable<ProcessorDeps['beforeCall']>;
  observe: (info: AttemptInfo) => void;
}

export function createDestinationGuard(deps: { policy: DestinationPolicy; store: DestinationStore; logger: Logger; defaultTimeoutMs: number; random?: () => number }): DestinationGuard {
  const { policy, store, logger } = deps;
  const random = deps.random ?? Math.random;
  const held = new WeakMap<Job, Held>();
  const seen = new Map<string, number>();

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
    if (isUnlimited(p)) return () => {};
    register(host);
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
      if (p.maxConcurrent === 0) return () => {};
      return () => void store.release(host, leaseId).catch(() => undefined);
    }
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
    if (h.policy.breaker === false && pauseMs === 0 && !h.probe) return;
    store.record(h.host, h.policy.breaker, { leaseId: h.leaseId, kind, pauseMs }).then(
      (r) => {
        if (r.transition === 'opened') logger.warn({ host: h.host, openMs: h.policy.breaker ? h.policy.breaker.openMs : undefined }, 'destination breaker opened');
        if (r.transition === 'closed') logger.info({ host: h.host }, 'destination breaker closed');
      },
      (err: Error) => logger.warn({ host: h.host, err: { name: err.name } }, 'destination breaker not updated'),
    );
    if (pauseMs > 0) logger.info({ host: h.host, pauseMs }, 'destination paused by Retry-After');
  }

  return { beforeCall, observe };
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
