/**
 * What the guard tells Redis: each finished call that counts (store.record: breaker window,
 * Retry-After pause, lease freed), with the host's successes not sent yet riding along, and
 * that a host was seen (the registry behind the admin list and metrics). Never throws: a lost
 * record costs the breaker one call's worth of information, not the job.
 */
import type { Logger } from '../logger.js';
import type { Lease } from './decisions.js';
import type { HostViews } from './host-views.js';
import type { HostPolicy } from './policy.js';
import type { CallKind, DestinationStore } from './store.js';

/** A host is added to the registry at most this often by one process. */
const REGISTER_EVERY_MS = 60_000;
const MAX_REGISTERED = 10_000;

export interface BreakerFeedDeps {
  store: DestinationStore;
  views: HostViews;
  logger: Logger;
  policyOf: (host: string) => HostPolicy;
  /** Told of each breaker transition (the operations stream); must not throw. */
  onEvent?: ((e: DestinationEvent) => void) | undefined;
}

/** What the destinations tell the operations stream (ops-events/). */
export type DestinationEvent =
  | { type: 'breaker.opened'; host: string; openMs: number | undefined }
  | { type: 'breaker.closed'; host: string }
  | { type: 'host.paused'; host: string; pauseMs: number };

export function createBreakerFeed({ store, views, logger, policyOf, onEvent }: BreakerFeedDeps) {
  const registered = new Map<string, number>();

  /** Records one call after the host's pending successes; the answer refreshes the view. */
  function send(
    lease: Pick<Lease, 'host' | 'leaseId' | 'policy'>,
    kind: CallKind,
    pauseMs: number,
    okBefore = views.takePending(lease.host),
  ): Promise<void> {
    const { host, policy } = lease;
    return store
      .record(host, policy.breaker, { leaseId: lease.leaseId, kind, pauseMs, okBefore })
      .then(
        (r) => {
          views.learnt(host, r.state === 'closed');
          const openMs = policy.breaker ? policy.breaker.openMs : undefined;
          if (r.transition === 'opened') {
            logger.warn({ host, openMs }, 'destination breaker opened');
            onEvent?.({ type: 'breaker.opened', host, openMs });
          }
          if (r.transition === 'closed') {
            logger.info({ host }, 'destination breaker closed');
            onEvent?.({ type: 'breaker.closed', host });
          }
        },
        (err: Error) =>
          logger.warn({ host, err: { name: err.name } }, 'destination breaker not updated'),
      );
  }

  /** The host's batch of successes alone: the last one is the call, the rest ride before it. */
  function sendPending(host: string): Promise<void> {
    const ok = views.takePending(host);
    if (ok === 0) return Promise.resolve();
    return send({ host, leaseId: '', policy: policyOf(host) }, 'ok', 0, ok - 1);
  }

  return {
    send,
    sendPending,
    /** Every batch not sent yet (at shutdown). */
    async flush(): Promise<void> {
      await Promise.all(views.hostsWithPending().map(sendPending));
    },
    /** Throttled ZADD into the host registry. */
    register(host: string): void {
      const now = Date.now();
      if ((registered.get(host) ?? 0) > now - REGISTER_EVERY_MS) return;
      if (registered.size > MAX_REGISTERED) registered.clear();
      registered.set(host, now);
      store.register(host).catch(() => registered.delete(host));
    },
  };
}

export type BreakerFeed = ReturnType<typeof createBreakerFeed>;
