/**
 * Patch of bullmq 6.7.0's Worker: start each job as soon as the Worker has fetched it.
 *
 * The Worker's main loop fetches jobs one after another, one moveToActive round trip each, and
 * starts none of them until that inner loop stops: when the queue runs dry or the worker is
 * full. With jobs arriving about as fast as the loop fetches them, fetched jobs wait for the
 * loop instead of running, the event loop idle (measured in docs/patches.md).
 *
 * The loop already knows how to fetch without holding up processing: while its blocking wait
 * for new jobs is outstanding (`waiting`), it starts the jobs it has and fetches nothing more.
 * This marks each plain fetch as such a wait too. Every fetched job then starts at once, and
 * fetches still go one at a time, which is why BullMQ's loop awaits them (no burst of
 * concurrency-many calls to Redis). Concurrency, the rate limiter and the blocking wait itself
 * stay BullMQ's.
 *
 * It uses three private members of Worker (_getNextJob, waiting, drained): applied only to the
 * version it was written for, and only when they are there; otherwise the Worker runs as
 * BullMQ made it and the caller is warned once. test/patches/ fails when BullMQ changes them.
 */
import type { Worker } from 'bullmq';
import { skipPatch, versionMatches, type Warn } from './version-gate.js';

export const PATCH_NAME = 'bullmq-start-fetched-jobs';
/** The bullmq version whose internals this patch was written and tested against. */
export const WRITTEN_FOR = '6.7.0';

type NextJob = (token: string, opts?: { block?: boolean }) => Promise<unknown>;

/** What the patch reads and writes of a Worker: private in bullmq's typings. */
interface LoopInternals {
  _getNextJob: NextJob;
  waiting: Promise<unknown> | null;
  drained: boolean;
}

/** True when the loop internals the patch needs are there (also used by its test). */
export function hasLoopInternals(worker: object): boolean {
  const loop = worker as Partial<LoopInternals>;
  return (
    typeof loop._getNextJob === 'function' && 'waiting' in loop && typeof loop.drained === 'boolean'
  );
}

/** Applies the patch to one Worker before its loop starts; false (and one warning) if not. */
export function startFetchedJobsAtOnce(worker: Worker, warn: Warn): boolean {
  if (!versionMatches(PATCH_NAME, 'bullmq', WRITTEN_FOR, warn)) return false;
  if (!hasLoopInternals(worker)) {
    return skipPatch(PATCH_NAME, 'bullmq Worker internals changed', warn);
  }
  const loop = worker as unknown as LoopInternals;
  const fetchNext = loop._getNextJob;
  loop._getNextJob = function (this: LoopInternals, token, opts) {
    // An outstanding wait, or an empty queue (BullMQ's blocking wait follows): BullMQ's path.
    if (this.waiting || this.drained) return fetchNext.call(this, token, opts);
    const fetched = fetchNext.call(this, token, opts);
    // The fetch stands in for the wait until it settles (unless a real wait replaced it).
    const settled = () => {
      if (this.waiting === marker) this.waiting = null;
    };
    const marker: Promise<unknown> = fetched.then(settled, settled);
    this.waiting = marker;
    return fetched;
  };
  return true;
}
