/**
 * Bounded walks over the failed set. Never one getJobs over the whole set: on a large failed
 * set that blocks Redis for seconds (BullMQ issue #4608). Instead pages of PAGE_SIZE, newest
 * first, so other clients are served between pages, stopping early at the --since cutoff and
 * at a hard cap on the number of jobs looked at.
 */
import type { Job, Queue } from 'bullmq';
import { failureOf, matches, type Failure, type FailureFilter } from './failure.js';

export const PAGE_SIZE = 500;
/** Most failed jobs one command looks at (retention keeps 100,000 by default). */
export const SCAN_CAP = 200_000;

export interface ScanOptions {
  filter: FailureFilter;
  /** Stop after this many matches. */
  limit?: number | undefined;
  pageSize?: number;
  cap?: number;
}

export interface ScanResult {
  failures: Failure[];
  /** Jobs read from the failed set. */
  scanned: number;
  /** True when the scan stopped at the limit or the cap before the end of the set. */
  truncated: boolean;
}

/** Matching failures, newest first; ids are unique even if the set shifts between pages. */
export async function scanFailed(queue: Queue, opts: ScanOptions): Promise<ScanResult> {
  const pageSize = opts.pageSize ?? PAGE_SIZE;
  const cap = opts.cap ?? SCAN_CAP;
  const limit = opts.limit ?? Infinity;
  const cutoff = opts.filter.sinceMs !== undefined ? Date.now() - opts.filter.sinceMs : -Infinity;
  const seen = new Set<string>();
  const failures: Failure[] = [];
  let scanned = 0;
  for (let start = 0; scanned < cap; start += pageSize) {
    const page = (await queue.getFailed(start, start + pageSize - 1)) as Job[];
    if (page.length === 0) return { failures, scanned, truncated: false };
    for (const job of page) {
      if (!job?.id || seen.has(job.id)) continue;
      seen.add(job.id);
      scanned++;
      const f = failureOf(job);
      if (f.failedAt < cutoff) return { failures, scanned, truncated: false };
      if (!matches(f, opts.filter)) continue;
      failures.push(f);
      if (failures.length >= limit) return { failures, scanned, truncated: true };
    }
    if (page.length < pageSize) return { failures, scanned, truncated: false };
  }
  return { failures, scanned, truncated: true };
}
