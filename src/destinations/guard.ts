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
 * A host with only a breaker (every host by default) that this process saw closed less than
 * FRESH_MS ago is called without asking Redis, and its successes are counted in one record per
 * FLUSH_MS (host-views.ts); failures and pauses are recorded at once, with the successes before
 * them. Asking Redis twice per call cost a healthy host more CPU than the rest of our pipeline
 * (docs/benchmarks.md); the price is that a breaker opened elsewhere, or another worker's
 * Retry-After pause, reaches this process up to FRESH_MS late (docs/destinations.md).
 *
 * The decisions are in decisions.ts; this file does the I/O they call for.
 */
import { DelayedError, type Job } from 'bullmq';
import { InvokeError } from '../contract/errors.js';
import type { Logger } from '../logger.js';
import type { AttemptInfo, BeforeCall } from '../queue/attempt-hooks.js';
import { askRedis } from './ask.js';
import {
  breakerOnly,
  heldBackCode,
  settle,
  waitMs,
  type HeldBack,
  type Lease,
} from './decisions.js';
import { createHostViews } from './host-views.js';
import { isUnlimited, type DestinationPolicy } from './policy.js';
import { createBreakerFeed, type DestinationEvent } from './breaker-feed.js';
import type { DestinationStore } from './store.js';

/** A breaker-only host seen closed this recently is called without a Redis round trip. */
export const FRESH_MS = 1000;
/** Successes on the fast path reach the breaker in one record per host this often. */
export const FLUSH_MS = 100;
/** Past this many hosts, views with nothing left to send are forgotten. */
export const MAX_HOST_VIEWS = 10_000;

const noRelease = () => {};

export interface DestinationGuard {
  beforeCall: BeforeCall;
  observe: (info: AttemptInfo) => void;
  /** Sends the successes not recorded yet (at shutdown). */
  flush(): Promise<void>;
}

export interface GuardDeps {
  policy: DestinationPolicy;
  store: DestinationStore;
  logger: Logger;
  defaultTimeoutMs: number;
  random?: () => number;
  maxHostViews?: number;
  /** Breaker transitions and Retry-After pauses, for the operations stream; must not throw. */
  onEvent?: ((e: DestinationEvent) => void) | undefined;
}

export function createDestinationGuard(deps: GuardDeps): DestinationGuard {
  const { policy, store, logger } = deps;
  const random = deps.random ?? Math.random;
  const views = createHostViews({
    freshMs: FRESH_MS,
    flushMs: FLUSH_MS,
    maxViews: deps.maxHostViews ?? MAX_HOST_VIEWS,
    onFlushDue: (host) => void feed.sendPending(host),
  });
  const feed = createBreakerFeed({
    store,
    views,
    logger,
    policyOf: (host) => policy.resolve(host),
    onEvent: deps.onEvent,
  });
  // The processor hands observers the Job it gave beforeCall: that pairs an attempt's lease
  // with its outcome. (A lease dropped with its job, e.g. when the save failed, frees itself.)
  const leases = new WeakMap<Job, Lease>();

  async function beforeCall(job: Job, url: URL, token: string | undefined): Promise<() => void> {
    const host = url.host.toLowerCase();
    const p = policy.resolve(host);
    if (isUnlimited(p)) return noRelease;
    feed.register(host);
    if (breakerOnly(p) && views.isFresh(host)) {
      leases.set(job, { host, leaseId: '', probe: false, policy: p });
      return noRelease;
    }
    const v = await askRedis(store, job, host, p, {
      deadlineMs: policy.deadlineMs,
      defaultTimeoutMs: deps.defaultTimeoutMs,
    });
    if (!v.go) return holdBack(job, token, host, v);
    leases.set(job, { host, leaseId: v.leaseId, probe: v.probe, policy: p });
    // Allowed and not a probe: the breaker is closed and the host not paused right now.
    if (breakerOnly(p) && !v.probe) views.sawClosed(host);
    if (p.maxConcurrent === 0) return noRelease;
    return () => void store.release(host, v.leaseId).catch(() => undefined);
  }

  /** Delays the job until the host has room, or fails it past the destination deadline. */
  async function holdBack(
    job: Job,
    token: string | undefined,
    host: string,
    v: HeldBack,
  ): Promise<never> {
    views.learnt(host, false);
    const code = heldBackCode(v);
    const now = Date.now();
    const deadline = job.timestamp + policy.deadlineMs;
    if (now >= deadline) {
      throw new InvokeError(
        code,
        `${host} held back past the destination deadline of ${policy.deadlineMs} ms after enqueue`,
        { retryable: false },
      );
    }
    const delays = Math.max(0, (job.attemptsStarted ?? 1) - job.attemptsMade - 1);
    const until = Math.min(now + waitMs(v, delays, random), deadline);
    logger.debug(
      { jobId: job.id, host, reason: v.reason, delayMs: until - now },
      'destination delayed job',
    );
    await job.moveToDelayed(until, token);
    throw new DelayedError(`${code}: ${host} ${v.reason}`);
  }

  function observe(info: AttemptInfo): void {
    const lease = leases.get(info.job);
    if (!lease) return;
    leases.delete(info.job);
    const s = settle(lease, info);
    if (s.send === 'now' && s.pauseMs > 0) {
      views.pause(lease.host, s.pauseMs);
      logger.info({ host: lease.host, pauseMs: s.pauseMs }, 'destination paused by Retry-After');
      deps.onEvent?.({ type: 'host.paused', host: lease.host, pauseMs: s.pauseMs });
    }
    if (s.send === 'batch') views.addSuccess(lease.host);
    if (s.send === 'now') void feed.send(lease, s.kind, s.pauseMs);
  }

  return { beforeCall, observe, flush: feed.flush };
}
