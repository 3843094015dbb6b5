/**
 * Saves an envelope and then emits its event. On a single node both go in one MULTI: one round
 * trip, and the event can never exist without its saved result. On a Cluster the two keys live
 * in different slots, so the save is written first and the event second (contract section 3:
 * "after the context write, never before it").
 */
import type { Envelope } from '../contract/envelope.js';
import type { ContinuationEvent } from '../contract/event.js';
import { appendSave, contextKey } from '../store/context.js';
import { appendEmit } from '../events/continuation.js';
import { isCluster, type RedisClient } from '../redis.js';
import type { Config } from '../config.js';

export type WriterConfig = Pick<Config, 'INVOKE_CTX_PREFIX' | 'INVOKE_CTX_TTL_SECONDS' | 'INVOKE_EVENTS_STREAM' | 'INVOKE_EVENTS_MAXLEN'>;

export interface ResultToWrite {
  runId: string;
  variable: string;
  envelope: Envelope;
  /** Absent for a held failure: nothing is emitted. */
  event: ContinuationEvent | undefined;
}

export function createResultWriter(redis: RedisClient, cfg: WriterConfig) {
  const cluster = isCluster(redis);
  return async function writeResult({ runId, variable, envelope, event }: ResultToWrite): Promise<void> {
    const key = contextKey(cfg.INVOKE_CTX_PREFIX, runId);
    const json = JSON.stringify(envelope);
    if (!cluster) {
      const multi = redis.multi();
      appendSave(multi, key, variable, json, cfg.INVOKE_CTX_TTL_SECONDS);
      if (event) appendEmit(multi, cfg.INVOKE_EVENTS_STREAM, cfg.INVOKE_EVENTS_MAXLEN, event);
      await execOrThrow(multi);
      return;
    }
    const save = redis.pipeline();
    appendSave(save, key, variable, json, cfg.INVOKE_CTX_TTL_SECONDS);
    await execOrThrow(save);
    if (event) {
      const emit = redis.pipeline();
      appendEmit(emit, cfg.INVOKE_EVENTS_STREAM, cfg.INVOKE_EVENTS_MAXLEN, event);
      await execOrThrow(emit);
    }
  };
}

export type WriteResult = ReturnType<typeof createResultWriter>;

async function execOrThrow(pipe: { exec(): Promise<[Error | null, unknown][] | null> }): Promise<void> {
  const replies = await pipe.exec();
  const failed = replies?.find(([err]) => err);
  if (failed?.[0]) throw new Error(`result write failed: ${failed[0].message}`);
}
