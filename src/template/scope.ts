/**
 * The template scope of one attempt (contract section 1): the job's data keys (customer, event,
 * ...), `context` (the run's saved variables), journey/run/step ids, visit, and secrets.
 * The reserved names win over data keys of the same name.
 */
import type { InvokeJob } from '../contract/job.js';
import type { Secret } from '../config.js';
import { secretsScope } from './secrets.js';

export interface Scope {
  vars: Record<string, unknown>;
  /** Names of the secrets the render read; filled while rendering. */
  usedSecrets: Set<string>;
}

export function buildScope(job: InvokeJob, context: Record<string, unknown>, secrets: ReadonlyMap<string, Secret>): Scope {
  const usedSecrets = new Set<string>();
  const vars = {
    ...job.data,
    context,
    journey: { id: job.journeyId },
    run: { id: job.runId },
    step: { id: job.stepId },
    visit: job.visit,
    customerId: job.customerId,
    secrets: secretsScope(secrets, usedSecrets),
  };
  return { vars, usedSecrets };
}

/**
 * Only load the run's context when a template can read it (saves a round trip per call): when
 * a key or string anywhere in the request contains "context". A walk that stops at the first
 * hit, not JSON.stringify of the request (230 us for a 10 KiB body, scripts/bench).
 */
export function needsContext(job: InvokeJob): boolean {
  return mentionsContext(job.request);
}

function mentionsContext(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('context');
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some(mentionsContext);
  for (const key in value) {
    if (key.includes('context') || mentionsContext((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}
