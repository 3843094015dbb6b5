/**
 * A tenant's maxConcurrent and ratePerSecond (INVOKE_TENANTS), checked before the call like a
 * destination's limits and with the same Redis scripts (destinations/store.ts, under the key
 * `tenant/<id>`, which no host can spell). A job with no room goes back to BullMQ's delayed set
 * (not an attempt) and its tenant leaves the admission rotation for as long (store.hold), so
 * its backlog stays in the fair index instead of cycling through the worker; past the tenant
 * deadline it fails RATE_LIMITED.
 */
import { DelayedError, type Job } from 'bullmq';
import { InvokeError } from '../contract/errors.js';
import { askRedis } from '../destinations/ask.js';
import { waitMs } from '../destinations/decisions.js';
import type { HostPolicy } from '../destinations/policy.js';
import type { DestinationStore } from '../destinations/store.js';
import type { BeforeCall } from '../queue/attempt-hooks.js';
import { isUnlimitedTenant, type TenantPolicy } from './policy.js';
import { tenantOf, type FairStore } from './store.js';

const noRelease = () => {};

/** The limiter key of a tenant: '/' never appears in a host. */
export const tenantLimitKey = (tenant: string) => `tenant/${tenant}`;

export interface TenantLimitDeps {
  policy: TenantPolicy;
  limits: DestinationStore;
  fair: Pick<FairStore, 'hold'>;
  defaultTimeoutMs: number;
  random?: () => number;
  /** Told each time a job is held back or failed by its tenant's limit (the operations stream). */
  onLimited?: TenantLimited | undefined;
}

/** `waitMs` 0 means the job failed RATE_LIMITED past the tenant deadline. */
export type TenantLimited = (tenantId: string, reason: string, waitMs: number) => void;

export function createTenantLimits(deps: TenantLimitDeps): BeforeCall {
  const { policy, limits, fair } = deps;
  const random = deps.random ?? Math.random;

  return async function beforeCall(job: Job, _url: URL, token: string | undefined) {
    const tenant = tenantOf((job.data as { tenantId?: string } | undefined)?.tenantId);
    const l = policy.resolve(tenant);
    if (isUnlimitedTenant(l)) return noRelease;
    const key = tenantLimitKey(tenant);
    const p: HostPolicy = {
      ratePerSecond: l.ratePerSecond,
      burst: 1,
      maxConcurrent: l.maxConcurrent,
      breaker: false,
      matched: 'tenant',
    };
    const v = await askRedis(limits, job, key, p, {
      deadlineMs: policy.deadlineMs,
      defaultTimeoutMs: deps.defaultTimeoutMs,
    });
    if (v.go)
      return l.maxConcurrent
        ? () => void limits.release(key, v.leaseId).catch(() => undefined)
        : noRelease;
    const now = Date.now();
    const deadline = job.timestamp + policy.deadlineMs;
    const name = tenant === '' ? 'jobs without tenantId' : `tenant ${tenant}`;
    if (now >= deadline) {
      deps.onLimited?.(tenant, 'deadline', 0);
      throw new InvokeError(
        'RATE_LIMITED',
        `${name} held back by its INVOKE_TENANTS limit past the tenant deadline of ${policy.deadlineMs} ms after enqueue`,
        { retryable: false },
      );
    }
    const delays = Math.max(0, (job.attemptsStarted ?? 1) - job.attemptsMade - 1);
    const until = Math.min(now + waitMs(v, delays, random), deadline);
    deps.onLimited?.(tenant, v.reason, until - now);
    await fair.hold(tenant, until - now);
    await job.moveToDelayed(until, token);
    throw new DelayedError(`RATE_LIMITED: ${name} ${v.reason}`);
  };
}
