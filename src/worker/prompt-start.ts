/**
 * Starts each job as soon as BullMQ's Worker has fetched it.
 *
 * The Worker's main loop (bullmq 6.x, Worker.mainLoop) fetches jobs one after another, one
 * moveToActive round trip each, and starts none of them until that inner loop stops: when the
 * queue runs dry or the worker is full. With jobs arriving about as fast as the loop fetches
 * them (a few thousand a second at concurrency 100), it kept fetching for tens of milliseconds
 * while the jobs it had fetched sat in its queue. BullMQ's own empty worker at 2,964 jobs/s:
 * 20-46 ms p99 from a job object's creation to its processor's start, with the event loop never
 * blocked for more than 7 ms; with this patch 1-2 ms, and the enqueue-to-completion p99 fell
 * from 31-36 ms to 8-9 ms. Our worker at 2,750 jobs/s (A/B, alternating runs): p50 9-10 ms to
 * 5-7, p99 27-61 to 17-49. It costs CPU at that rate (0.29-0.31 ms a job against 0.25-0.27:
 * jobs that started together used to share their result write and socket flushes), none at
 * full speed, where jobs arrive through moveToFinished's fetch (docs/benchmarks.md).
 *
 * The loop already knows how to fetch without holding up processing: while its blocking wait
 * for new jobs is outstanding (`waiting`), it starts the jobs it has and fetches nothing more.
 * This marks each plain fetch as such a wait too. Every fetched job then starts at once, and
 * fetches still go one at a time, which is why BullMQ's loop awaits them (no burst of
 * concurrency-many calls to Redis). Concurrency, the rate limiter and the blocking wait itself
 * stay BullMQ's.
 *
 * It uses three private members of Worker (_getNextJob, waiting, drained). If an upgrade of
 * bullmq renames them, nothing is patched, the caller is told, and
 * test/core/prompt-start.redis.test.ts fails.
 */
import type { Worker } from 'bullmq';

type NextJob = (token: string, opts?: { block?: boolean }) => Promise<unknown>;

/** What the patch reads and writes of a Worker: private in bullmq's typings. */
interface LoopInternals {
  _getNextJob: NextJob;
  waiting: Promise<unknown> | null;
  drained: boolean;
}

export function startFetchedJobsAtOnce(worker: Worker): boolean {
  const loop = worker as unknown as LoopInternals;
  if (typeof loop._getNextJob !== 'function' || !('waiting' in loop) || typeof loop.drained !== 'boolean') return false;
  const fetchNext = loop._getNextJob;
  loop._getNextJob = function (this: LoopInternals, token, opts) {
    // An outstanding wait, or an empty queue (BullMQ's blocking wait follows): BullMQ's path.
    if (this.waiting || this.drained) return fetchNext.call(this, token, opts);
    const fetched = fetchNext.call(this, token, opts);
    const marker: Promise<unknown> = fetched.then(
      () => this.waiting === marker && (this.waiting = null),
      () => this.waiting === marker && (this.waiting = null),
    );
    this.waiting = marker;
    return fetched;
  };
  return true;
}
