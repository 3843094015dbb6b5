/**
 * Emits operations events to a Redis stream (INVOKE_OPS_STREAM, capped at INVOKE_OPS_MAXLEN) and,
 * when configured, to a webhook. Deduplicated per subject and group within
 * INVOKE_OPS_DEDUP_SECONDS: an event is dropped when the last one emitted in its group for that
 * subject was the same type (ten workers seeing one breaker open, a 429 storm pausing a host
 * for every job, a job processed twice after a stall). The check-and-set is one script on one
 * key; the XADD follows it (the two keys may live in different Cluster slots).
 * Never throws and never holds a job up: a lost event is logged, the job goes on.
 */
import type { Logger } from '../logger.js';
import type { RedisClient } from '../redis.js';
import { subjectOf, type OpsEvent } from './events.js';

// KEYS dedup key; ARGV type, window ms. 1 = emit, 0 = the same type was the last one emitted.
const CHECK_AND_SET = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

type ScriptClient = {
  invokeOpsDedup(key: string, type: string, windowMs: number): Promise<number>;
};

export interface OpsEmitterOptions {
  stream: string;
  maxLen: number;
  dedupMs: number;
  logger: Logger;
  /** Called with each emitted entry (the webhook); its promise is awaited by flush() only. */
  deliver?: ((entry: OpsEntry) => Promise<void>) | undefined;
  now?: () => number;
}

/** One emitted event as a consumer reads it from the stream (fields) or the webhook (JSON). */
export interface OpsEntry {
  id: string;
  type: string;
  subject: string;
  at: string;
  facts: Record<string, unknown>;
}

export const dedupKey = (stream: string, group: string, subject: string) =>
  `${stream}:dedup:${group}:${subject}`;

export function createOpsEmitter(redis: RedisClient, opts: OpsEmitterOptions) {
  redis.defineCommand('invokeOpsDedup', { numberOfKeys: 1, lua: CHECK_AND_SET });
  const client = redis as unknown as ScriptClient;
  const now = opts.now ?? Date.now;
  const pending = new Set<Promise<unknown>>();

  async function write(event: OpsEvent, at: string): Promise<OpsEntry | undefined> {
    const { subject, group } = subjectOf(event);
    if (
      opts.dedupMs > 0 &&
      (await client.invokeOpsDedup(
        dedupKey(opts.stream, group, subject),
        event.type,
        opts.dedupMs,
      )) === 0
    )
      return undefined;
    const { type, ...facts } = event;
    const id = await redis.xadd(
      opts.stream,
      'MAXLEN',
      '~',
      opts.maxLen,
      '*',
      'type',
      type,
      'subject',
      subject,
      'at',
      at,
      'facts',
      JSON.stringify(facts),
    );
    return { id: id ?? '', type, subject, at, facts };
  }

  function track(p: Promise<unknown>): void {
    pending.add(p);
    void p.finally(() => pending.delete(p));
  }

  return {
    /** Emits (or drops as a duplicate); resolves with the entry, undefined when dropped or lost. */
    emit(event: OpsEvent): Promise<OpsEntry | undefined> {
      // Stamped when it happened, not when Redis answered.
      const p = write(event, new Date(now()).toISOString()).then(
        (entry) => {
          if (entry && opts.deliver) track(opts.deliver(entry).catch(() => undefined));
          return entry;
        },
        (err: Error) => {
          opts.logger.warn(
            { type: event.type, err: { name: err.name, message: err.message } },
            'operations event not emitted',
          );
          return undefined;
        },
      );
      track(p);
      return p;
    },
    /** Waits for emits and deliveries in flight (at shutdown, in tests). */
    async flush(): Promise<void> {
      while (pending.size) await Promise.allSettled([...pending]);
    },
  };
}

export type OpsEmitter = ReturnType<typeof createOpsEmitter>;

/** A stream entry's fields -> OpsEntry (for consumers and tests). */
export function parseOpsEntry(id: string, fields: string[]): OpsEntry {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  return {
    id,
    type: f.type ?? '',
    subject: f.subject ?? '',
    at: f.at ?? '',
    facts: JSON.parse(f.facts ?? '{}') as Record<string, unknown>,
  };
}
