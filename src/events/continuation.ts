/**
 * The continuation event (contract section 3): one XADD to journey:continuations, capped with
 * an approximate MAXLEN (cheap trimming by whole macro-nodes).
 */
import type { ChainableCommander } from 'ioredis';
import type { ContinuationEvent } from '../contract/event.js';
import type { Envelope } from '../contract/envelope.js';
import type { InvokeJob } from '../contract/job.js';

export function buildEvent(
  job: InvokeJob,
  jobId: string,
  envelope: Envelope,
  errorCode?: string,
): ContinuationEvent {
  return {
    eventId: envelope.eventId,
    type: envelope.ok ? 'invoke.completed' : 'invoke.failed',
    journeyId: job.journeyId,
    runId: job.runId,
    stepId: job.stepId,
    visit: String(job.visit),
    customerId: job.customerId,
    variable: job.save.variable,
    status: envelope.status === null ? '' : String(envelope.status),
    errorCode: errorCode ?? envelope.error?.code ?? '',
    attempts: String(envelope.attempts),
    jobId,
    at: envelope.at,
    tenantId: job.tenantId ?? '',
  };
}

/** The entry's field/value list in the contract's order. */
export function eventFields(event: ContinuationEvent): string[] {
  const fields: string[] = [];
  for (const [k, v] of Object.entries(event)) fields.push(k, v);
  return fields;
}

export function appendEmit(
  pipe: ChainableCommander,
  stream: string,
  maxLen: number,
  event: ContinuationEvent,
): void {
  pipe.xadd(stream, 'MAXLEN', '~', String(maxLen), '*', ...eventFields(event));
}

/** Stream entry fields -> event object (for readers: tests, the CLI, the example consumer). */
export function parseEventFields(fields: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) out[fields[i]!] = fields[i + 1]!;
  return out;
}
