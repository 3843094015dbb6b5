/**
 * The operations stream's vocabulary (docs/operations.md, "Operations stream"): what an alert
 * or an incident tool needs to know, one event per fact worth a page. Each event names its
 * subject (a host, a job, a tenant) and the dedup group it shares with its opposite: an opened
 * breaker and its closing are one group, so "closed" always follows an emitted "opened".
 */

export const OPS_EVENT_TYPES = [
  'breaker.opened',
  'breaker.closed',
  'host.paused',
  'host.resumed',
  'job.exhausted',
  'job.held',
  'tenant.limited',
] as const;
export type OpsEventType = (typeof OPS_EVENT_TYPES)[number];

/** What a failed job's event carries: enough to page and to run `invoke-api inspect`. */
export interface JobFacts {
  jobId: string;
  runId: string | null;
  journeyId: string | null;
  stepId: string | null;
  tenantId: string | null;
  host: string;
  code: string | null;
  status: number | null;
  attempts: number;
  /** Our error message, secrets scrubbed. */
  detail: string | null;
}

export type OpsEvent =
  | { type: 'breaker.opened'; host: string; openMs: number | null; by?: 'operator' }
  | { type: 'breaker.closed'; host: string; by?: 'operator' }
  | { type: 'host.paused'; host: string; pauseMs: number; until: string }
  | { type: 'host.resumed'; host: string; by?: 'operator' }
  | ({ type: 'job.exhausted' } & JobFacts)
  | ({ type: 'job.held' } & JobFacts)
  | { type: 'tenant.limited'; tenantId: string; reason: string; waitMs: number };

/** The event's subject (a host, a job id, a tenant) and its dedup group. */
export function subjectOf(e: OpsEvent): { subject: string; group: string } {
  switch (e.type) {
    case 'breaker.opened':
    case 'breaker.closed':
      return { subject: e.host, group: 'breaker' };
    case 'host.paused':
    case 'host.resumed':
      return { subject: e.host, group: 'pause' };
    case 'job.exhausted':
    case 'job.held':
      return { subject: e.jobId, group: e.type };
    case 'tenant.limited':
      return { subject: e.tenantId, group: e.type };
  }
}

/**
 * tenant.limited for the fair-share limits (fair/): a tenant's work held back by its
 * INVOKE_TENANTS limit. `tenantId` '' is the jobs without one.
 */
export const tenantLimited = (tenantId: string, reason: string, waitMs: number): OpsEvent => ({
  type: 'tenant.limited',
  tenantId,
  reason,
  waitMs: Math.round(waitMs),
});
