/**
 * The worker's side of admission: every worker process moves jobs from the fair index into
 * BullMQ's wait list (store.admit), so the backlog drains whichever workers are alive.
 *
 *   - after each job this process finishes (a slot is free, the wait list is one shorter), with
 *     at most one call in flight: completions during a call are covered by one more call;
 *   - every TICK_MS in any case (parked tenants whose hold ended, jobs a producer indexed while
 *     the window was full and nothing finished since);
 *   - every BEAT_MS it registers its slots, from which the window (WINDOW_FRACTION of all live
 *     workers' slots) is computed in Redis.
 *
 * A producer's intake admits too while the window has room, so an idle queue starts new work
 * without waiting for a tick.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { FairStore } from './store.js';

export const TICK_MS = 100;
export const BEAT_MS = 2000;
/** A worker not heard from for this long no longer counts towards the window. */
export const BEAT_TTL_MS = 10_000;
/**
 * The wait list holds at most this share of all workers' slots (docs/fair-share.md): one round
 * of calls. A smaller window lets a new tenant in sooner but starves fast calls: at a quarter,
 * one tenant's instant calls ran at about half the rate of the plain FIFO (docs/benchmarks.md).
 */
export const WINDOW_FRACTION = 1;

export interface Admitter {
  start(): Promise<void>;
  /** A job of this process finished: refill the window if the index has work. */
  nudge(): void;
  stop(): Promise<void>;
}

export function createAdmitter(deps: {
  store: FairStore;
  slots: number;
  logger: Logger;
}): Admitter {
  const { store, logger } = deps;
  const workerId = randomUUID();
  let backlog = true;
  let running = false;
  let again = false;
  let stopped = false;
  let failing = false;
  const timers: NodeJS.Timeout[] = [];

  async function run(): Promise<void> {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        backlog = (await store.admit()).backlog > 0;
      } while (again && backlog && !stopped);
      failing = false;
    } catch (err) {
      // Redis trouble: the next tick tries again; report once per outage.
      if (!failing)
        logger.warn({ err: { name: (err as Error).name } }, 'fair-share admission failed');
      failing = true;
    } finally {
      running = false;
    }
  }

  const beat = () => store.beat(workerId, deps.slots, BEAT_TTL_MS, WINDOW_FRACTION);

  return {
    async start() {
      await beat();
      await run();
      timers.push(setInterval(() => void run(), TICK_MS).unref());
      timers.push(setInterval(() => void beat().catch(() => undefined), BEAT_MS).unref());
    },
    nudge() {
      if (backlog && !stopped) void run();
    },
    async stop() {
      stopped = true;
      for (const t of timers) clearInterval(t);
      await store.beat(workerId, 0, BEAT_TTL_MS, WINDOW_FRACTION).catch(() => undefined);
    },
  };
}
