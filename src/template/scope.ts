/**
 * The template scope of one attempt (contract section 1): the job's data keys (customer, event,
 * ...), `context` (the run's saved variables), journey/run/step ids, visit, and secrets.
 * The reserved names win over data keys of the same name.
 */
import type { InvokeJob } from '../contract/job.js';
import type { Secret } from '../config.js';
import { secretsScope } from './secrets.js';
import { SecretRefs } from './secret-refs.js';

export interface Scope {
  vars: Record<string, unknown>;
  /** Names of the secrets the render read; filled while rendering. */
  usedSecrets: Set<string>;
  /** The references the render handed out for secrets (filled in by the HTTP client). */
  refs: SecretRefs;
}

export function buildScope(
  job: InvokeJob,
  context: Record<string, unknown>,
  secrets: ReadonlyMap<string, Secret>,
): Scope {
  const refs = new SecretRefs();
  // Object.assign rather than `{ ...job.data, context, ... }`: on Node 20's V8 every property
  // listed after a non-empty spread makes a new hidden class (docs/benchmarks.md).
  // Safe with untrusted data only because the job schema drops a "__proto__" key from `data`
  // (Object.assign would set the scope's prototype from it; render.test.ts checks both).
  const vars = Object.assign({}, job.data, {
    context,
    journey: { id: job.journeyId },
    run: { id: job.runId },
    step: { id: job.stepId },
    visit: job.visit,
    customerId: job.customerId,
    secrets: secretsScope(secrets, refs),
  });
  return { vars, usedSecrets: refs.used, refs };
}

/**
 * Only load the run's context when a template can read it (saves a round trip per call): when a
 * template in a rendered place (URL, query keys and values, header values, body strings)
 * mentions "context". Only a string with a tag is a template, and body keys are never rendered,
 * so a 10 KiB body of plain text is not searched key by key (scripts/bench).
 */
export function needsContext(job: InvokeJob): boolean {
  const { url, query, headers, body } = job.request;
  if (reads(url) || (job.cache !== undefined && reads(job.cache.key))) return true;
  for (const k in query) if (reads(k) || reads(query[k]!)) return true;
  for (const k in headers) if (reads(headers[k]!)) return true;
  return bodyReads(body);
}

const reads = (s: string) => s.includes('context') && (s.includes('{{') || s.includes('{%'));

function bodyReads(value: unknown): boolean {
  if (typeof value === 'string') return reads(value);
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some(bodyReads);
  for (const key in value) if (bodyReads((value as Record<string, unknown>)[key])) return true;
  return false;
}
