/**
 * Saves an envelope, then emits its event, and appends the attempt's line to the BullMQ job log.
 * On a single node all of it is one Lua script: one round trip and one command per job (MULTI
 * costs a command object and a reply per queued command in ioredis, and the job log was a
 * second round trip), atomic like MULTI, so the event can never exist without its saved result.
 * On a Cluster the keys live in different slots, so the save is written first, the event second
 * (contract section 3: "after the context write, never before it"), the log line alongside.
 */
import type { Envelope } from '../contract/envelope.js';
import type { ContinuationEvent } from '../contract/event.js';
import { appendSave, contextKey } from '../store/context.js';
import { appendEmit, eventFields } from '../events/continuation.js';
import { isCluster, type RedisClient } from '../redis.js';
import type { Config } from '../config.js';

export type WriterConfig = Pick<Config, 'INVOKE_CTX_PREFIX' | 'INVOKE_CTX_TTL_SECONDS' | 'INVOKE_EVENTS_STREAM' | 'INVOKE_EVENTS_MAXLEN'>;

/** A line for the BullMQ job log (what Job.log writes: RPUSH to <job key>:logs, trimmed to keepLogs). */
export interface JobLogLine { jobKey: string; line: string; keepLogs: number | undefined }

export interface ResultToWrite {
  runId: string;
  variable: string;
  envelope: Envelope;
  /** Absent for a held failure: nothing is emitted. */
  event: ContinuationEvent | undefined;
  log?: JobLogLine;
}

// KEYS: context hash, stream, job hash, job log. ARGV: variable, envelope JSON, TTL, MAXLEN
// ('' = no event), log line ('' = none), keepLogs ('' = all), event fields...
// The log line is written only while the job exists, like BullMQ's addLog script.
const SAVE_EMIT_LOG = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if ARGV[4] ~= '' then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', unpack(ARGV, 7))
end
if ARGV[5] ~= '' and redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('RPUSH', KEYS[4], ARGV[5])
  if ARGV[6] ~= '' then redis.call('LTRIM', KEYS[4], -tonumber(ARGV[6]), -1) end
end
return 1`;

type ScriptClient = { invokeSaveEmitLog(...args: string[]): Promise<unknown> };

export function createResultWriter(redis: RedisClient, cfg: WriterConfig) {
  if (!isCluster(redis)) {
    redis.defineCommand('invokeSaveEmitLog', { numberOfKeys: 4, lua: SAVE_EMIT_LOG });
    const client = redis as unknown as ScriptClient;
    return async function writeResult({ runId, variable, envelope, event, log }: ResultToWrite): Promise<void> {
      const keys = [contextKey(cfg.INVOKE_CTX_PREFIX, runId), cfg.INVOKE_EVENTS_STREAM, log?.jobKey ?? '', log ? `${log.jobKey}:logs` : ''];
      const args = [variable, JSON.stringify(envelope), String(cfg.INVOKE_CTX_TTL_SECONDS), event ? String(cfg.INVOKE_EVENTS_MAXLEN) : '', log?.line ?? '', log?.keepLogs ? String(log.keepLogs) : ''];
      try {
        await client.invokeSaveEmitLog(...keys, ...args, ...(event ? eventFields(event) : []));
      } catch (err) {
        throw new Error(`result write failed: ${(err as Error).message}`);
      }
    };
  }
  return async function writeResult({ runId, variable, envelope, event, log }: ResultToWrite): Promise<void> {
    const key = contextKey(cfg.INVOKE_CTX_PREFIX, runId);
    const logged = log ? appendLog(redis, log) : undefined;
    const save = redis.pipeline();
    appendSave(save, key, variable, JSON.stringify(envelope), cfg.INVOKE_CTX_TTL_SECONDS);
    await execOrThrow(save);
    if (event) {
      const emit = redis.pipeline();
      appendEmit(emit, cfg.INVOKE_EVENTS_STREAM, cfg.INVOKE_EVENTS_MAXLEN, event);
      await execOrThrow(emit);
    }
    await logged;
  };
}

export type WriteResult = ReturnType<typeof createResultWriter>;

/** Cluster: the job log lives in BullMQ's slot; trimmed like Job.log with keepLogs. */
async function appendLog(redis: RedisClient, { jobKey, line, keepLogs }: JobLogLine): Promise<void> {
  const pipe = redis.pipeline().rpush(`${jobKey}:logs`, line);
  if (keepLogs) pipe.ltrim(`${jobKey}:logs`, -keepLogs, -1);
  await execOrThrow(pipe);
}

async function execOrThrow(pipe: { exec(): Promise<[Error | null, unknown][] | null> }): Promise<void> {
  const replies = await pipe.exec();
  const failed = replies?.find(([err]) => err);
  if (failed?.[0]) throw new Error(`result write failed: ${failed[0].message}`);
}
