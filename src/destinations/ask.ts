/**
 * Asking Redis whether one call may go now (store.acquire: pause, breaker, concurrency, rate),
 * with a lease that frees itself if this worker dies mid-call.
 */
import type { Job } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { HeldBack } from './decisions.js';
import type { HostPolicy } from './policy.js';
import type { DestinationStore } from './store.js';

/** Lease on a concurrency slot: the call's own timeout plus slack. */
const LEASE_SLACK_MS = 5000;
/** A rate permit seen this long after asking is not used (see askRedis). */
const STALE_PERMIT_MS = 100;

export type Granted = { go: true; probe: boolean; leaseId: string };

export async function askRedis(
  store: DestinationStore,
  job: Job,
  host: string,
  p: HostPolicy,
  limits: { deadlineMs: number; defaultTimeoutMs: number },
): Promise<Granted | HeldBack> {
  const deadline = job.timestamp + limits.deadlineMs;
  const data = job.data as { request?: { timeoutMs?: number } } | undefined;
  const timeoutMs = data?.request?.timeoutMs ?? limits.defaultTimeoutMs;
  const leaseId = randomUUID();
  const jobId = job.id ?? leaseId;
  const asked = performance.now();
  const leaseMs = timeoutMs + LEASE_SLACK_MS;
  const v = await store.acquire(host, p, {
    leaseId,
    jobId,
    leaseMs,
    maxWaitMs: deadline - Date.now(),
  });
  if (!v.go) return v;
  if (p.ratePerSecond > 0 && performance.now() - asked > STALE_PERMIT_MS) {
    // This process stalled between Redis granting the slot and us seeing it: sending now
    // would bunch with later slots (the upstream would see a burst). Hand the permit back
    // (the job keeps its place in the rate schedule) and come back in a moment.
    await store.release(host, leaseId, jobId);
    return { go: false, reason: 'busy', waitMs: 0 };
  }
  return { go: true, probe: v.probe, leaseId };
}
