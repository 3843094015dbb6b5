/**
 * How a journey engine consumes continuation events (contract section 3), as a library you can
 * copy. The worker appends one entry per finished step to the stream `journey:continuations`;
 * the engine reads it with a consumer group so several engine processes share the work and
 * nothing is lost when one dies:
 *
 *   1. XGROUP CREATE <stream> <group> $ MKSTREAM   once; BUSYGROUP means it already exists
 *   2. XAUTOCLAIM ... <claimIdleMs>                 take over entries a dead consumer read but
 *                                                   never acknowledged
 *   3. XREADGROUP GROUP <group> <me> ... >          new entries, blocking up to blockMs
 *   4. SET <seen>:<eventId> <entryId> NX EX <ttl>   drop duplicates: delivery is at least once,
 *                                                   and the same eventId may be appended twice
 *                                                   (a worker crash between save and emit)
 *   5. HGET journey:ctx:{<runId>} <variable>        the saved result envelope the step produced
 *   6. onEvent(event, envelope), then XACK          an entry is acknowledged only after the
 *                                                   engine has acted on it
 *
 * The seen marker stores the stream entry id, not just "1": if onEvent throws, the entry stays
 * pending and is redelivered (XAUTOCLAIM) with the same entry id, which is then recognised as
 * our own unfinished work rather than a duplicate. A second entry with the same eventId has a
 * different entry id and is dropped. A process that dies after onEvent but before XACK gets
 * the entry again, so the engine's own transition should be idempotent too (keyed by eventId).
 *
 * Run it against a local worker:  npx tsx examples/engine-consumer.ts
 * (REDIS_URL, INVOKE_EVENTS_STREAM, INVOKE_CTX_PREFIX as for the worker; ENGINE_GROUP, ENGINE_SEEN_PREFIX)
 */
import { Redis } from 'ioredis';
import { hostname } from 'node:os';
import { pathToFileURL } from 'node:url';
import {
  continuationEventSchema,
  envelopeSchema,
  type ContinuationEvent,
  type Envelope,
} from '../src/index.js';

export interface EngineConsumerOptions {
  /** A connection of its own: XREADGROUP BLOCK holds it while waiting. */
  redis: Redis;
  /** Unique per engine process (e.g. hostname-pid); pending entries are tracked per consumer. */
  consumer: string;
  onEvent: (event: ContinuationEvent, saved: Envelope | undefined) => Promise<void>;
  group?: string;
  stream?: string;
  ctxPrefix?: string;
  seenPrefix?: string;
  seenTtlSeconds?: number;
  count?: number;
  blockMs?: number;
  /** Entries pending this long on any consumer are taken over (the owner is presumed dead). */
  claimIdleMs?: number;
  /** Where the group starts when it is created: '$' (new entries only) or '0' (everything kept). */
  startId?: string;
  onError?: (err: unknown, entryId: string) => void;
}

export interface PollStats {
  handled: number;
  duplicates: number;
  invalid: number;
  failed: number;
  claimed: number;
}

type Entry = [id: string, fields: string[]];

export function createEngineConsumer(opts: EngineConsumerOptions) {
  const { redis, consumer } = opts;
  const group = opts.group ?? 'journey-engine';
  const stream = opts.stream ?? 'journey:continuations';
  const ctxPrefix = opts.ctxPrefix ?? 'journey:ctx';
  const seenPrefix = opts.seenPrefix ?? 'journey:engine:seen';
  const seenTtl = opts.seenTtlSeconds ?? 7 * 24 * 3600;
  const count = opts.count ?? 100;
  let claimCursor = '0-0';
  let stopping = false;

  async function ensureGroup(): Promise<void> {
    try {
      await redis.xgroup('CREATE', stream, group, opts.startId ?? '$', 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).startsWith('BUSYGROUP')) throw err;
    }
  }

  /** The envelope the worker saved before emitting; undefined if the context expired meanwhile. */
  async function readSaved(event: ContinuationEvent): Promise<Envelope | undefined> {
    const json = await redis.hget(`${ctxPrefix}:{${event.runId}}`, event.variable);
    if (json === null) return undefined;
    const parsed = envelopeSchema.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : undefined;
  }

  async function handle([entryId, fields]: Entry, stats: PollStats): Promise<void> {
    const parsed = continuationEventSchema.safeParse(toObject(fields));
    if (!parsed.success) {
      stats.invalid++; // not ours to fix: acknowledge so it does not block the group
      await redis.xack(stream, group, entryId);
      return;
    }
    const event = parsed.data;
    const seenKey = `${seenPrefix}:${event.eventId}`;
    const first = await redis.set(seenKey, entryId, 'EX', seenTtl, 'NX');
    if (first === null && (await redis.get(seenKey)) !== entryId) {
      stats.duplicates++;
      await redis.xack(stream, group, entryId);
      return;
    }
    try {
      await opts.onEvent(event, await readSaved(event));
    } catch (err) {
      stats.failed++; // left pending: redelivered by XAUTOCLAIM after claimIdleMs
      opts.onError?.(err, entryId);
      return;
    }
    await redis.xack(stream, group, entryId);
    stats.handled++;
  }

  /** One round: take over stale pending entries, then read new ones (blocking when idle). */
  async function poll(): Promise<PollStats> {
    const stats: PollStats = { handled: 0, duplicates: 0, invalid: 0, failed: 0, claimed: 0 };
    const [next, claimed] = (await redis.xautoclaim(
      stream,
      group,
      consumer,
      opts.claimIdleMs ?? 60_000,
      claimCursor,
      'COUNT',
      count,
    )) as [string, Entry[]];
    claimCursor = next;
    stats.claimed = claimed.length;
    for (const entry of claimed) await handle(entry, stats);
    const block = claimed.length > 0 ? 1 : (opts.blockMs ?? 5000);
    const reply = (await redis.xreadgroup(
      'GROUP',
      group,
      consumer,
      'COUNT',
      count,
      'BLOCK',
      block,
      'STREAMS',
      stream,
      '>',
    )) as [string, Entry[]][] | null;
    for (const entry of reply?.[0]?.[1] ?? []) await handle(entry, stats);
    return stats;
  }

  /** Polls until stop(); stop() resolves once the current round is finished. */
  function run(): { stop(): Promise<void> } {
    const loop = (async () => {
      await ensureGroup();
      while (!stopping) await poll();
    })();
    return {
      stop: async () => {
        stopping = true;
        await loop;
      },
    };
  }

  return { ensureGroup, poll, run, group, stream };
}

function toObject(fields: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) out[fields[i]!] = fields[i + 1]!;
  return out;
}

// Standalone: print every continuation event of a local worker until Ctrl-C. Uses the worker's
// variable names for the stream and the context prefix, so it follows the same configuration.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const env = process.env;
  const redis = new Redis(env.REDIS_URL || 'redis://127.0.0.1:6379', {
    maxRetriesPerRequest: null,
  });
  const engine = createEngineConsumer({
    redis,
    consumer: `${hostname()}-${process.pid}`,
    ...(env.INVOKE_EVENTS_STREAM ? { stream: env.INVOKE_EVENTS_STREAM } : {}),
    ...(env.INVOKE_CTX_PREFIX ? { ctxPrefix: env.INVOKE_CTX_PREFIX } : {}),
    ...(env.ENGINE_GROUP ? { group: env.ENGINE_GROUP } : {}),
    ...(env.ENGINE_SEEN_PREFIX ? { seenPrefix: env.ENGINE_SEEN_PREFIX } : {}),
    blockMs: 1000,
    onEvent: async (e, saved) =>
      console.log(
        `${e.type} run=${e.runId} step=${e.stepId} ${e.variable}=${JSON.stringify(saved?.body ?? null)}${e.errorCode ? ` (${e.errorCode})` : ''}`,
      ),
    onError: (err, id) => console.error(`entry ${id} left pending: ${(err as Error).message}`),
  });
  await engine.ensureGroup(); // before saying we are ready: the group starts at '$'
  const running = engine.run();
  console.log(`consuming ${engine.stream} as group ${engine.group}; Ctrl-C to stop`);
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => void running.stop().then(() => redis.quit()));
}
