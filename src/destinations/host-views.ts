/**
 * What this process last learnt from Redis about each breaker-only host (when it saw the breaker
 * closed, any Retry-After pause) and the successes it has not sent to the breaker yet. It
 * decides nothing: the guard asks whether a view is fresh and tells it what it learnt.
 *
 * Bounded: past maxViews hosts, the views with nothing left to send are forgotten before a new
 * one is made (a worker calling ever-new hosts must not grow without end).
 */

interface HostView {
  closedAt: number;
  pausedUntil: number;
  pendingOk: number;
  flushing: ReturnType<typeof setTimeout> | undefined;
}

export interface HostViewsOptions {
  /** A host seen closed this recently (ms) is fresh. */
  freshMs: number;
  /** Pending successes are handed to onFlushDue this long (ms) after the first of a batch. */
  flushMs: number;
  maxViews: number;
  /** A host's batch is due: the guard sends it (takePending). */
  onFlushDue: (host: string) => void;
  now?: () => number;
}

export function createHostViews(opts: HostViewsOptions) {
  const now = opts.now ?? Date.now;
  const views = new Map<string, HostView>();
  // Next size at which idle views are swept: doubled past what a sweep could not free, so hosts
  // that all still have successes to send are not scanned again for every new host.
  let sweepAt = opts.maxViews;

  function view(host: string): HostView {
    let v = views.get(host);
    if (!v) {
      if (views.size >= sweepAt) {
        forgetIdle();
        sweepAt = Math.max(opts.maxViews, views.size * 2);
      }
      v = { closedAt: 0, pausedUntil: 0, pendingOk: 0, flushing: undefined };
      views.set(host, v);
    }
    return v;
  }

  /**
   * Only views with no successes waiting for their flush and no pause running: dropping one
   * that still counts successes would lose them, and a dropped pause would let this process
   * call a paused host until Redis says otherwise.
   */
  function forgetIdle(): void {
    const t = now();
    for (const [host, v] of views) {
      if (v.pendingOk === 0 && v.flushing === undefined && v.pausedUntil <= t) views.delete(host);
    }
  }

  return {
    /** Seen closed less than freshMs ago and not paused: may be called without asking Redis. */
    isFresh(host: string): boolean {
      const v = views.get(host);
      const t = now();
      return v !== undefined && t - v.closedAt < opts.freshMs && t >= v.pausedUntil;
    },
    /** Redis let a call through that was not a probe: the breaker is closed right now. */
    sawClosed(host: string): void {
      view(host).closedAt = now();
    },
    /** What a later answer from Redis said; only a host already in view is updated. */
    learnt(host: string, closed: boolean): void {
      const v = views.get(host);
      if (v) v.closedAt = closed ? now() : 0;
    },
    pause(host: string, ms: number): void {
      view(host).pausedUntil = now() + ms;
    },
    /** One more success to send with the host's next batch (flushMs from the first). */
    addSuccess(host: string): void {
      const v = view(host);
      v.pendingOk++;
      v.flushing ??= setTimeout(() => opts.onFlushDue(host), opts.flushMs);
    },
    /** The successes not sent yet, now the caller's to send; cancels the batch's timer. */
    takePending(host: string): number {
      const v = views.get(host);
      if (!v) return 0;
      const n = v.pendingOk;
      v.pendingOk = 0;
      clearTimeout(v.flushing);
      v.flushing = undefined;
      return n;
    },
    hostsWithPending(): string[] {
      return [...views].filter(([, v]) => v.pendingOk > 0).map(([host]) => host);
    },
    get size(): number {
      return views.size;
    },
  };
}

export type HostViews = ReturnType<typeof createHostViews>;
