/**
 * Prometheus metrics (prom-client) on a registry of our own. Call metrics are fed by the
 * processor's observers hook (one AttemptInfo per finished attempt); queue gauges are read from
 * Redis at scrape time with a fixed number of calls. Label cardinality is bounded: hosts are
 * capped (hostLabel), codes and outcomes are closed sets, and never a runId, jobId or URL path.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Queue } from 'bullmq';
import type { AttemptInfo } from '../queue/attempt-hooks.js';
import type { RedisClient } from '../redis.js';
import { STATES, oldestWaitingAgeMs } from '../ops/status.js';

/** Distinct host label values before new hosts are counted as 'other'. */
export const MAX_HOSTS = 200;
/** Distinct step label values (journeyId/stepId) before new steps are counted as 'other'. */
export const MAX_STEPS = 200;
/**
 * Distinct tenant label values before new tenants are counted as 'other' (jobs without
 * tenantId are 'none'). Tenants get a counter of their own, not a label on the host metrics, so
 * the series stay at most MAX_TENANTS x outcomes instead of hosts x tenants x codes.
 */
export const MAX_TENANTS = 100;

const stepOf = (info: AttemptInfo) => {
  const data = info.job.data as { journeyId?: unknown; stepId?: unknown } | undefined;
  return `${String(data?.journeyId ?? '')}/${String(data?.stepId ?? '')}`;
};

/** A host label from a bounded set: lower-cased, the first MAX_HOSTS seen, then 'other'. */
export function createHostLabeler(max = MAX_HOSTS): (host: string) => string {
  const seen = new Set<string>();
  return (host) => {
    const h = host.toLowerCase() || 'none';
    if (seen.has(h)) return h;
    if (seen.size >= max) return 'other';
    seen.add(h);
    return h;
  };
}

/** Tenant ids are case-sensitive: the first `max` seen as they are, then 'other'. */
function createLabeler(max: number): (value: string) => string {
  const seen = new Set<string>();
  return (v) => (seen.has(v) ? v : seen.size >= max ? 'other' : (seen.add(v), v));
}

export interface MetricsSources {
  queue?: Queue | undefined;
  redis?: RedisClient | undefined;
  inFlight?: (() => number) | undefined;
  concurrency?: number | undefined;
}

export function createMetrics(
  sources: MetricsSources = {},
  opts: { defaultMetrics?: boolean } = {},
) {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const hostLabel = createHostLabeler();
  const registers = [registry];

  const calls = new Counter({
    name: 'invoke_calls_total',
    help: 'Finished attempts by destination host, outcome (completed|retry|failed|held) and error code ("" on success).',
    labelNames: ['host', 'outcome', 'code'],
    registers,
  });
  const duration = new Histogram({
    name: 'invoke_call_duration_seconds',
    help: 'Attempt duration (render + call + classify) by destination host.',
    labelNames: ['host'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
  const attempts = new Histogram({
    name: 'invoke_job_attempts',
    help: 'Attempts a job took when it finished (completed, failed or held).',
    buckets: [1, 2, 3, 4, 5, 7, 10, 15, 20],
    registers,
  });
  const retries = new Counter({
    name: 'invoke_retries_total',
    help: 'Attempts that failed and will be retried, by host and error code.',
    labelNames: ['host', 'code'],
    registers,
  });
  const events = new Counter({
    name: 'invoke_events_emitted_total',
    help: 'Continuation events emitted by this process, by type.',
    labelNames: ['type'],
    registers,
  });
  const stepLabel = createHostLabeler(MAX_STEPS);
  const cacheLookups = new Counter({
    name: 'invoke_cache_lookups_total',
    help: 'Attempts of steps with a response cache, by step (journeyId/stepId, the first 200 seen, then "other") and result (hit|miss|bypass: carried a secret).',
    labelNames: ['step', 'result'],
    registers,
  });
  const ruleFailures = new Counter({
    name: 'invoke_outcome_rule_failures_total',
    help: "Responses a step's expect.success rejected (UNEXPECTED_RESPONSE), by destination host.",
    labelNames: ['host'],
    registers,
  });
  const tenantLabel = createLabeler(MAX_TENANTS);
  const tenantCalls = new Counter({
    name: 'invoke_tenant_calls_total',
    help: `Finished attempts by tenant (tenantId; 'none' for jobs without one; the first ${MAX_TENANTS} seen by this process, then 'other') and outcome.`,
    labelNames: ['tenant', 'outcome'],
    registers,
  });
  const blocked = new Counter({
    name: 'invoke_blocked_urls_total',
    help: 'Attempts refused by the destination policy (URL_BLOCKED).',
    registers,
  });

  // Sources are read at scrape time, so main.ts can fill them in after the worker starts.
  const depth = new Gauge({
    name: 'invoke_queue_jobs',
    help: 'Jobs in the queue by state (queue-wide, read at scrape).',
    labelNames: ['state'],
    registers,
    async collect() {
      if (!sources.queue) return;
      const counts = await sources.queue.getJobCounts(...STATES);
      for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
    },
  });
  const oldest = new Gauge({
    name: 'invoke_queue_oldest_waiting_seconds',
    help: 'Age of the oldest waiting job (0 when none).',
    registers,
    async collect() {
      if (sources.queue && sources.redis)
        this.set(((await oldestWaitingAgeMs(sources.queue, sources.redis)) ?? 0) / 1000);
    },
  });
  const inUse = new Gauge({
    name: 'invoke_worker_concurrency_in_use',
    help: 'Jobs this process is working on now.',
    registers,
    collect() {
      if (sources.inFlight) this.set(sources.inFlight());
    },
  });
  if (sources.concurrency !== undefined) {
    new Gauge({
      name: 'invoke_worker_concurrency',
      help: 'Configured INVOKE_CONCURRENCY of this process.',
      registers,
    }).set(sources.concurrency);
  }

  /** The processor observer: must never throw (processor.ts). */
  function observe(info: AttemptInfo): void {
    try {
      const host = hostLabel(info.host);
      const code = info.errorCode ?? '';
      calls.inc({ host, outcome: info.outcome, code });
      tenantCalls.inc({
        tenant: info.tenantId === undefined ? 'none' : tenantLabel(info.tenantId),
        outcome: info.outcome,
      });
      duration.observe({ host }, info.durationMs / 1000);
      if (code === 'URL_BLOCKED') blocked.inc();
      if (code === 'UNEXPECTED_RESPONSE') ruleFailures.inc({ host });
      if (info.cache) cacheLookups.inc({ step: stepLabel(stepOf(info)), result: info.cache });
      if (info.outcome === 'retry') retries.inc({ host, code });
      else attempts.observe(info.job.attemptsMade + 1);
      if (info.outcome === 'completed') events.inc({ type: 'invoke.completed' });
      if (info.outcome === 'failed') events.inc({ type: 'invoke.failed' });
    } catch {
      // metrics must never fail a job
    }
  }

  return {
    registry,
    observe,
    metrics: {
      calls,
      duration,
      attempts,
      retries,
      events,
      blocked,
      depth,
      oldest,
      inUse,
      cacheLookups,
      ruleFailures,
      tenantCalls,
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
