/**
 * Redo with changes: a failed or held step runs again with corrected customer data (the job's
 * `data`, what its templates read as customer.*, profile.* ...). Everything else stays, so the
 * idempotency key (runId, stepId, visit) and the continuation event's eventId are the same: the
 * partner sees the same Idempotency-Key, and the journey engine drops a second event as a
 * duplicate. The new job is validated with the contract schema before anything changes, and
 * the action goes on the job's record (who, when, which fields changed).
 */
import type { Queue } from 'bullmq';
import { InvalidJobError, parseJob } from '../contract/invalid-job.js';
import { appendRecord } from '../attempts/store.js';
import type { OperatorRecord } from '../attempts/record.js';
import type { RedisClient } from '../redis.js';
import { visibleJob, type TenantScope } from './tenant-scope.js';
import { OpsError } from './errors.js';

export interface RetryWithDataResult {
  id: string;
  dryRun: boolean;
  retried: boolean;
  changed: string[];
}

/** Why a retry with data was refused: not found, or not failed (a held job is failed too). */
export class RetryRefusedError extends OpsError {
  override name = 'RetryRefusedError';
  constructor(
    readonly reason: 'not found' | 'not failed',
    message: string,
  ) {
    super(reason === 'not found' ? 'not-found' : 'conflict', message);
  }
}

const MAX_CHANGED = 50;

/** Dotted paths (under "data.") of the values that differ; objects are compared key by key. */
export function changedPaths(
  before: unknown,
  after: unknown,
  path = 'data',
  out: string[] = [],
): string[] {
  if (out.length >= MAX_CHANGED) return out;
  const isObj = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObj(before) && isObj(after)) {
    for (const key of new Set([...Object.keys(before), ...Object.keys(after)]))
      changedPaths(before[key], after[key], `${path}.${key}`, out);
  } else if (JSON.stringify(before) !== JSON.stringify(after)) {
    out.push(path);
  }
  return out;
}

export interface RetryWithDataOptions {
  by: string;
  dryRun?: boolean | undefined;
  keepRecords: number;
  /** Only a job of this tenant: another tenant's is "not found", like an unknown id. */
  tenant?: TenantScope | undefined;
}

export async function retryWithData(
  queue: Queue,
  redis: RedisClient,
  id: string,
  data: unknown,
  opts: RetryWithDataOptions,
): Promise<RetryWithDataResult> {
  // The new data replaces `data` only, so a scoped operator cannot move a job to another tenant.
  const job = await visibleJob(queue, id, opts.tenant);
  if (!job) throw new RetryRefusedError('not found', `no job ${id}`);
  const state = await job.getState();
  if (state !== 'failed')
    throw new RetryRefusedError(
      'not failed',
      `job ${id} is ${state}: only a failed or held job can be retried with new data`,
    );
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new InvalidJobError([
      {
        path: 'data',
        code: 'invalid_type',
        message: 'must be a JSON object (the values the templates read, e.g. {"customer": {...}})',
      },
    ]);
  }
  const next = { ...(job.data as Record<string, unknown>), data };
  parseJob(next);
  const changed = changedPaths((job.data as { data?: unknown }).data ?? {}, data);
  if (opts.dryRun) return { id, dryRun: true, retried: false, changed };
  await job.updateData(next);
  const record: OperatorRecord = {
    kind: 'operator',
    action: 'retry-with-data',
    at: new Date().toISOString(),
    by: opts.by,
    changed,
  };
  await appendRecord(
    redis,
    `${queue.qualifiedName}:${id}`,
    record,
    Math.max(opts.keepRecords, 1),
    (s) => s,
  );
  try {
    await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
  } catch {
    throw new RetryRefusedError(
      'not failed',
      `job ${id} changed state while retrying (someone else retried or removed it); its data was updated`,
    );
  }
  return { id, dryRun: false, retried: true, changed };
}
