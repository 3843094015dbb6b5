/**
 * What an operator needs to know about one failed job, read from the job hash alone (no extra
 * round trip per job): the facts of its last failed attempt (code, status, host) come with the
 * stack BullMQ stored for it (queue/failure-facts.ts); failedReason, `CODE: detail`, is shown as
 * it is. A failure from outside our code (a stalled job, an internal error) gets code INTERNAL.
 */
import type { Job } from 'bullmq';
import { failureFactsOf } from '../queue/failure-facts.js';
import { badInput } from './errors.js';
import { tenantScope } from './tenant-scope.js';

export const GROUP_KEYS = ['host', 'code', 'status', 'journey', 'tenant'] as const;
export type GroupKey = (typeof GROUP_KEYS)[number];

export interface Failure {
  id: string;
  journey: string;
  /** The job's tenantId (contract 6.1); '' for a job without one. */
  tenant: string;
  runId: string;
  stepId: string;
  host: string;
  code: string;
  status: number | null;
  reason: string;
  attempts: number;
  failedAt: number;
  held: boolean;
}

export interface FailureFilter {
  /** Only failures finished within this many ms before now. */
  sinceMs?: number | undefined;
  host?: string | undefined;
  code?: string | undefined;
  status?: number | undefined;
  journey?: string | undefined;
  /** Only this tenant's jobs; '-' = only jobs without tenantId. */
  tenant?: string | undefined;
  /** Only jobs with onFailure=hold (their customer is waiting; nothing was emitted). */
  held?: boolean | undefined;
}

const str = (v: unknown) => (typeof v === 'string' ? v : '');

export function failureOf(job: Job): Failure {
  const facts = failureFactsOf(job);
  const data = (job.data ?? {}) as Record<string, unknown>;
  return {
    id: job.id ?? '',
    journey: str(data.journeyId),
    tenant: str(data.tenantId),
    runId: str(data.runId),
    stepId: str(data.stepId),
    host: facts?.host ?? '',
    code: facts?.code ?? 'INTERNAL',
    status: facts?.status ?? null,
    reason: job.failedReason ?? '',
    attempts: job.attemptsMade,
    failedAt: job.finishedOn ?? job.timestamp,
    held: data.onFailure === 'hold',
  };
}

export function matches(f: Failure, filter: FailureFilter, now = Date.now()): boolean {
  if (filter.sinceMs !== undefined && f.failedAt < now - filter.sinceMs) return false;
  if (filter.host !== undefined && f.host !== filter.host.toLowerCase()) return false;
  if (filter.code !== undefined && f.code !== filter.code.toUpperCase()) return false;
  if (filter.status !== undefined && f.status !== filter.status) return false;
  if (filter.journey !== undefined && f.journey !== filter.journey) return false;
  if (filter.tenant !== undefined && f.tenant !== (filter.tenant === '-' ? '' : filter.tenant))
    return false;
  if (filter.held && !f.held) return false;
  return true;
}

export function groupValue(f: Failure, key: GroupKey): string {
  switch (key) {
    case 'host':
      return f.host || '(none)';
    case 'code':
      return f.code;
    case 'status':
      return f.status === null ? '(none)' : String(f.status);
    case 'journey':
      return f.journey || '(none)';
    case 'tenant':
      return f.tenant || '(none)';
  }
}

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** "90s", "15m", "1h", "7d" -> milliseconds; throws naming the bad value. */
export function parseDuration(text: string, what = 'duration'): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(text.trim());
  if (!m) throw badInput(`${what}: "${text}" is not a duration such as 30s, 15m, 1h or 7d`);
  return Math.round(Number(m[1]) * UNITS[m[2]!]!);
}

export interface FilterInput {
  since?: string | undefined;
  host?: string | undefined;
  code?: string | undefined;
  status?: string | number | undefined;
  journey?: string | undefined;
  tenant?: string | undefined;
  held?: boolean | undefined;
}

/** Filters as typed by an operator (CLI flags, query string) -> FailureFilter; errors name the flag. */
export function toFilter(input: FilterInput): FailureFilter {
  const tenant = tenantScope(input.tenant);
  const status = input.status === undefined ? undefined : Number(input.status);
  if (status !== undefined && !(Number.isInteger(status) && status >= 100 && status <= 599))
    throw badInput(`status: "${input.status}" is not an HTTP status (100-599)`);
  return {
    sinceMs: input.since === undefined ? undefined : parseDuration(input.since, 'since'),
    host: input.host,
    code: input.code,
    status,
    journey: input.journey,
    tenant,
    held: input.held,
  };
}
