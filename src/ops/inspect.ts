/**
 * One job's whole story for an operator: its data (templates as written; secrets are never in
 * job data, they are rendered per attempt from the worker's environment), state, attempts with
 * timestamps and error codes (the processor's one log line per attempt), the saved envelope from
 * the run's context and the continuation event it emitted, found by a bounded scan of the newest
 * stream entries.
 */
import type { Queue } from 'bullmq';
import type { Config } from '../config.js';
import type { RedisClient } from '../redis.js';
import { contextKey } from '../store/context.js';
import { idempotencyKey } from '../contract/idempotency.js';
import { parseEventFields } from '../events/continuation.js';
import { parseJsonOrText } from '../lib/json.js';
import { failureOf, type Failure } from './failure.js';
import { readRecords } from '../attempts/store.js';
import type { JobRecord } from '../attempts/record.js';
import { maskJobData } from '../contract/literal-credentials.js';
import { visibleJob, type TenantScope } from './tenant-scope.js';

export type InspectConfig = Pick<Config, 'INVOKE_CTX_PREFIX' | 'INVOKE_EVENTS_STREAM'>;

/** Newest stream entries looked at for the job's event (the stream is capped, not indexed). */
export const EVENT_SCAN_LIMIT = 10_000;
const EVENT_PAGE = 1000;
const LOG_LIMIT = 200;

export interface Attempt {
  n: number;
  line: string;
  code: string | null;
  status: number | null;
  outcome: string | null;
}

export interface Inspection {
  id: string;
  state: string;
  name: string;
  data: unknown;
  opts: { attempts: number | undefined; backoff: unknown };
  attemptsMade: number;
  createdAt: string;
  processedAt: string | null;
  finishedAt: string | null;
  failedReason: string | null;
  failure: Failure | null;
  attempts: Attempt[];
  /** Per-attempt records (request, response start, error) and operator actions, oldest first. */
  records: JobRecord[];
  logs: string[];
  envelope: unknown;
  events: Record<string, string>[];
  eventsScanned: number;
}

const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : null);

/** `GET host/path -> 503 in 12 ms HTTP_STATUS (attempt 2, retry)` -> its parts. */
export function parseAttemptLine(line: string): Attempt | undefined {
  const m = /-> (\d{3}|-) in \d+ ms(?: ([A-Z_]+))? \(attempt (\d+), (\w+)\)$/.exec(line);
  if (!m) return undefined;
  return {
    n: Number(m[3]),
    line,
    status: m[1] === '-' ? null : Number(m[1]),
    code: m[2] ?? null,
    outcome: m[4] ?? null,
  };
}

/** Undefined for an unknown id, and alike for a job outside `tenant` when given (tenant-scope.ts). */
export async function inspectJob(
  queue: Queue,
  redis: RedisClient,
  cfg: InspectConfig,
  id: string,
  tenant?: TenantScope,
): Promise<Inspection | undefined> {
  const job = await visibleJob(queue, id, tenant);
  if (!job) return undefined;
  const [state, { records, lines: logs }] = await Promise.all([
    job.getState(),
    readRecords(redis, `${queue.qualifiedName}:${id}`, LOG_LIMIT),
  ]);
  const data = job.data as Record<string, unknown> | undefined;
  const runId = typeof data?.runId === 'string' ? data.runId : undefined;
  const variable = (data?.save as { variable?: unknown } | undefined)?.variable;
  const envelopeJson =
    runId && typeof variable === 'string'
      ? await redis.hget(contextKey(cfg.INVOKE_CTX_PREFIX, runId), variable)
      : null;
  const eventId =
    runId && typeof data?.stepId === 'string'
      ? idempotencyKey({
          runId,
          stepId: data.stepId,
          visit: typeof data.visit === 'number' ? data.visit : 1,
        })
      : undefined;
  const found = eventId
    ? await findEvents(redis, cfg.INVOKE_EVENTS_STREAM, eventId)
    : { events: [], scanned: 0 };
  return {
    id,
    state,
    name: job.name,
    // Literal credentials a raw producer put in headers are not shown (contract/literal-credentials.ts).
    data: maskJobData(job.data),
    opts: { attempts: job.opts.attempts, backoff: job.opts.backoff },
    attemptsMade: job.attemptsMade,
    createdAt: new Date(job.timestamp).toISOString(),
    processedAt: iso(job.processedOn),
    finishedAt: iso(job.finishedOn),
    failedReason: job.failedReason || null,
    failure: state === 'failed' ? failureOf(job) : null,
    attempts: logs.map(parseAttemptLine).filter((a): a is Attempt => a !== undefined),
    records,
    logs,
    envelope: envelopeJson === null ? null : parseJsonOrText(envelopeJson),
    events: found.events,
    eventsScanned: found.scanned,
  };
}

/** Newest first, in pages, up to EVENT_SCAN_LIMIT entries: every entry with this eventId. */
export async function findEvents(
  redis: RedisClient,
  stream: string,
  eventId: string,
  limit = EVENT_SCAN_LIMIT,
): Promise<{ events: Record<string, string>[]; scanned: number }> {
  const events: Record<string, string>[] = [];
  let end = '+';
  let scanned = 0;
  while (scanned < limit) {
    const page = await redis.xrevrange(
      stream,
      end,
      '-',
      'COUNT',
      Math.min(EVENT_PAGE, limit - scanned),
    );
    for (const [entryId, fields] of page) {
      const event = parseEventFields(fields);
      if (event.eventId === eventId) events.push({ streamId: entryId, ...event });
    }
    scanned += page.length;
    if (page.length < EVENT_PAGE) break;
    end = `(${page.at(-1)![0]}`;
  }
  return { events, scanned };
}
