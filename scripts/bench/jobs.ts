/**
 * The jobs the benchmark enqueues: for Queue.addBulk with job options like our client's
 * (attempts 5, the 'invoke' backoff, jobId = idempotency key), and their data as
 * enqueueMany inputs (scripts/bench/enqueue.ts).
 */
import type { JobsOptions } from 'bullmq';
import { idempotencyKey } from '../../src/contract/idempotency.js';
import type { InvokeJobInput } from '../../src/contract/job.js';
import { BENCH_SECRET, BENCH_TENANT } from './secrets.js';

export type JobKind = 'small' | 'templated' | 'expect' | 'cached' | 'envsecret' | 'tenantsecret';

export const JOB_OPTIONS = { attempts: 5, backoff: { type: 'invoke', delay: 1000 } } as const;

/** A typical step: one template in the URL, a small JSON body. */
function small(upstream: string, runId: string): InvokeJobInput {
  return {
    v: 1,
    journeyId: 'bench-flow',
    runId,
    stepId: 'fetch-loyalty',
    customerId: 'cus-1',
    request: {
      method: 'POST',
      url: `${upstream}/loyalty/{{ customer.id }}`,
      body: { email: '{{ customer.email }}', tags: ['vip'] },
    },
    data: { customer: { id: 'cus-1', email: 'a@b.co' } },
    save: { variable: 'loyalty' },
  };
}

/** 20 template variables (URL, 2 headers, 17 body leaves) inside a ~10 KiB JSON body. */
function templated(upstream: string, runId: string): InvokeJobInput {
  const customer: Record<string, string> = { id: 'cus-1', email: 'a@b.co', locale: 'en-GB' };
  const fields: Record<string, string> = {};
  for (let i = 1; i <= 17; i++) {
    customer[`f${i}`] = `value-${i}`;
    fields[`field${i}`] = `{{ customer.f${i} }}`;
  }
  const items = Array.from({ length: 70 }, (_, i) => ({
    sku: `SKU-${String(i).padStart(5, '0')}`,
    name: 'A static catalogue line',
    qty: i % 5,
    price: 12.5,
  }));
  return {
    v: 1,
    journeyId: 'bench-flow',
    runId,
    stepId: 'push-order',
    customerId: 'cus-1',
    request: {
      method: 'POST',
      url: `${upstream}/orders/{{ customer.id }}`,
      headers: {
        'x-customer-email': '{{ customer.email }}',
        'accept-language': '{{ customer.locale }}',
      },
      body: { fields, items },
    },
    data: { customer },
    save: { variable: 'order' },
  };
}

/** `small` with an outcome rule over the body (contract 6.3): the cost of evaluating it. */
function withExpect(upstream: string, runId: string): InvokeJobInput {
  return {
    ...small(upstream, runId),
    expect: { success: "response.status == 200 and response.body.tier.name == 'gold'" },
  };
}

/** `small` with a step cache every job shares (contract 6.4): all but the first job are hits. */
function cached(upstream: string, runId: string): InvokeJobInput {
  return {
    ...small(upstream, runId),
    stepId: 'todays-offers',
    cache: { key: 'offers-{{ customer.id }}', ttlSeconds: 3600 },
  };
}

/** `small` sending a secret in a header: a platform secret (INVOKE_SECRET_BENCH_KEY), no tenant (v1). */
function envSecret(upstream: string, runId: string): InvokeJobInput {
  const job = small(upstream, runId);
  return {
    ...job,
    request: { ...job.request, headers: { 'x-api-key': `{{ secrets.${BENCH_SECRET} }}` } },
  };
}

/** The same job of the bench tenant, whose own BENCH_KEY (the vault) it sends (contract 6.1). */
function tenantSecret(upstream: string, runId: string): InvokeJobInput {
  return { ...envSecret(upstream, runId), tenantId: BENCH_TENANT };
}

const BUILD: Record<JobKind, (upstream: string, runId: string) => InvokeJobInput> = {
  small,
  templated,
  expect: withExpect,
  cached,
  envsecret: envSecret,
  tenantsecret: tenantSecret,
};

let seq = 0;

export interface BulkJob {
  name: string;
  data: InvokeJobInput;
  opts: JobsOptions;
}

/**
 * A batch of jobs for Queue.addBulk. The enqueue time (ms since epoch) is carried in the job
 * data as the end of the runId, so the driver reads it back from any event that names the run
 * or the job (our continuation event, BullMQ's own 'completed' event).
 */
export function makeJobs(kind: JobKind, upstream: string, n: number): BulkJob[] {
  const out: BulkJob[] = [];
  const enqueuedAt = Date.now();
  for (let i = 0; i < n; i++) {
    const runId = `run-${++seq}-${enqueuedAt}`;
    const data = BUILD[kind](upstream, runId);
    out.push({
      name: 'invoke',
      data,
      opts: { ...JOB_OPTIONS, jobId: idempotencyKey({ runId, stepId: data.stepId }) },
    });
  }
  return out;
}

/** The enqueue time back from a jobId or runId ("...run-<seq>-<ms>..."). */
export function enqueuedAt(id: string): number {
  const m = /run-\d+-(\d+)/.exec(id);
  return m ? Number(m[1]) : NaN;
}
