/**
 * Operator actions scoped to a tenant (docs/tenants.md, contract v1.1 section 6.1): a caller
 * that names a tenant sees and touches only that tenant's jobs. Asked for an explicit job id of
 * another tenant, it gets exactly the answer an id that does not exist gets (404, "no job"),
 * never "forbidden": a tenant's operator must not learn which ids exist in other tenants.
 */
import type { Job, Queue } from 'bullmq';
import { TENANT_ID } from '../contract/job.js';
import { badInput, OpsError } from './errors.js';

/** A tenant id, or '-' for jobs without tenantId (as the `tenant` filter). */
export type TenantScope = string;

/** Checks a scope typed by an operator; the message names the field, like the filters'. */
export function tenantScope(input: string | undefined): TenantScope | undefined {
  if (input === undefined || input === '-' || TENANT_ID.test(input)) return input;
  throw badInput(
    `tenant: "${input}" is not a tenant id (^[A-Za-z0-9._-]{1,64}$, or - for jobs without one)`,
  );
}

/** The job's tenantId, '' for a job without one. */
export function jobTenant(data: unknown): string {
  const t = (data as { tenantId?: unknown } | null | undefined)?.tenantId;
  return typeof t === 'string' ? t : '';
}

export const inScope = (data: unknown, scope: TenantScope | undefined) =>
  scope === undefined || jobTenant(data) === (scope === '-' ? '' : scope);

/** The job when it exists and is in scope; undefined for both "no such job" and "not yours". */
export async function visibleJob(
  queue: Queue,
  id: string,
  scope: TenantScope | undefined,
): Promise<Job | undefined> {
  const job = await queue.getJob(id);
  return job && inScope(job.data, scope) ? job : undefined;
}

/** Explicit ids a scoped action cannot see (unknown or another tenant's, alike): nothing was done. */
export class JobsNotFoundError extends OpsError {
  override name = 'JobsNotFoundError';
  constructor(
    readonly ids: string[],
    scope: TenantScope,
  ) {
    const shown =
      ids.slice(0, 20).join(', ') + (ids.length > 20 ? ` and ${ids.length - 20} more` : '');
    super(
      'not-found',
      `ids: no job ${shown} ${scope === '-' ? 'without a tenant' : `for tenant ${scope}`}; nothing done`,
    );
  }
}

const BATCH = 50;

/** Throws JobsNotFoundError unless every id is a job in scope. */
export async function assertVisible(
  queue: Queue,
  ids: string[],
  scope: TenantScope,
): Promise<void> {
  const hidden: string[] = [];
  for (let i = 0; i < ids.length; i += BATCH) {
    const batch = ids.slice(i, i + BATCH);
    const jobs = await Promise.all(batch.map((id) => visibleJob(queue, id, scope)));
    for (const [n, job] of jobs.entries()) if (!job) hidden.push(batch[n]!);
  }
  if (hidden.length > 0) throw new JobsNotFoundError(hidden, scope);
}
