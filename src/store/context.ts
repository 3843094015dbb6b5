/**
 * The journey context store (contract section 2): one hash per run, key
 * `<INVOKE_CTX_PREFIX>:{<runId>}` (braces = Redis Cluster hash tag), field = save.variable,
 * value = the JSON envelope. Every write refreshes the TTL.
 */
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from '../redis.js';
import { parseJsonOrText } from '../lib/json.js';

export const contextKey = (prefix: string, runId: string) => `${prefix}:{${runId}}`;

/** Queues HSET + EXPIRE on a pipeline or MULTI (the caller decides the round trip). */
export function appendSave(
  pipe: ChainableCommander,
  key: string,
  variable: string,
  envelopeJson: string,
  ttlSeconds: number,
): void {
  pipe.hset(key, variable, envelopeJson).expire(key, ttlSeconds);
}

/** The run's saved variables, parsed: what templates see as `context`. */
export async function readContext(
  redis: RedisClient,
  key: string,
): Promise<Record<string, unknown>> {
  const raw = await redis.hgetall(key);
  const out: Record<string, unknown> = {};
  for (const [field, json] of Object.entries(raw)) {
    // Not JSON: written by someone else; exposed as text rather than failing the step.
    out[field] = parseJsonOrText(json);
  }
  return out;
}
